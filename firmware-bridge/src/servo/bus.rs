//! The host side of a servo bus: ping, read, write, sync read and sync write over any
//! [`Transport`], for Feetech and Dynamixel 2.0 servos. Buffers are kept between calls, so a
//! control loop's sync read and sync write allocate nothing.

use std::time::{Duration, Instant};

use super::packet::{inst, Frame, Protocol, BROADCAST};
use crate::error::{Error, Result};
use crate::transport::Transport;

/// Counts of what went wrong on the bus (for logs and the bench).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Packets sent.
    pub sent: u64,
    /// Status packets received and used.
    pub received: u64,
    /// Broken packets and noise skipped.
    pub bad: u64,
    /// Replies that did not come in time.
    pub timeouts: u64,
}

/// A servo bus on a transport.
pub struct ServoBus {
    transport: Box<dyn Transport>,
    protocol: Protocol,
    /// How long one status packet may take.
    pub timeout: Duration,
    /// Tries after the first for a ping, read or write that gets no (or a broken) answer; a
    /// servo's error bits are not retried. Sync reads are not retried: the control loop's
    /// next tick is the retry.
    pub retries: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
    args: Vec<u8>,
    params: Vec<u8>,
    /// Error bits each servo reported in the last sync read (`(id, bits)`, only non-zero).
    pub errors: Vec<(u8, u8)>,
    /// What went wrong so far.
    pub stats: BusStats,
}

impl ServoBus {
    /// A bus speaking `protocol` on `transport`.
    #[must_use]
    pub fn new(transport: Box<dyn Transport>, protocol: Protocol) -> Self {
        Self {
            transport,
            protocol,
            timeout: Duration::from_millis(20),
            retries: 2,
            tx: Vec::with_capacity(256),
            rx: Vec::with_capacity(1024),
            args: Vec::with_capacity(256),
            params: Vec::with_capacity(256),
            errors: Vec::with_capacity(16),
            stats: BusStats::default(),
        }
    }

    /// The protocol.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The transport's name.
    #[must_use]
    pub fn port(&self) -> &str {
        self.transport.name()
    }

    fn send(&mut self, id: u8, x: u8) -> Result<()> {
        self.tx.clear();
        self.protocol.packet(id, x, &self.args, &mut self.tx);
        self.transport.clear_input()?;
        self.rx.clear();
        self.transport.write_all(&self.tx)?;
        self.stats.sent += 1;
        Ok(())
    }

    /// Wait for `id`'s status packet; its parameters land in `self.params`, its error byte is
    /// returned.
    fn status(&mut self, id: u8, deadline: Instant, what: &dyn Fn() -> String) -> Result<u8> {
        let mut chunk = [0u8; 256];
        loop {
            match self.protocol.frame(&self.rx) {
                Frame::Need(_) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.stats.timeouts += 1;
                        return Err(Error::Timeout {
                            what: what(),
                            timeout_ms: self.timeout.as_millis() as u64,
                        });
                    }
                    let n = self.transport.read(&mut chunk, left)?;
                    self.rx.extend_from_slice(&chunk[..n]);
                }
                Frame::Skip(n) => {
                    self.rx.drain(..n);
                }
                Frame::Bad { skip, .. } => {
                    self.stats.bad += 1;
                    self.rx.drain(..skip);
                }
                Frame::Packet { id: got, x, params, len } => {
                    let status = match self.protocol {
                        Protocol::Feetech => true,
                        Protocol::Dynamixel => x == inst::STATUS && !params.is_empty(),
                    };
                    if !status || got != id {
                        // Another servo's late answer, or an instruction echoed by the adapter.
                        self.rx.drain(..len);
                        continue;
                    }
                    self.protocol.params(&self.rx, params, &mut self.params);
                    self.rx.drain(..len);
                    self.stats.received += 1;
                    return Ok(match self.protocol {
                        Protocol::Feetech => x,
                        Protocol::Dynamixel => self.params.remove(0),
                    });
                }
            }
        }
    }

    fn check(&self, id: u8, error: u8) -> Result<()> {
        match self.protocol.error_text(error) {
            None => Ok(()),
            Some(flags) => Err(Error::Servo { id, flags }),
        }
    }

    fn exchange(&mut self, id: u8, x: u8, what: &dyn Fn() -> String) -> Result<()> {
        let mut tries = 0;
        loop {
            self.send(id, x)?;
            match self.status(id, Instant::now() + self.timeout, what) {
                Ok(error) => return self.check(id, error),
                Err(Error::Timeout { .. } | Error::Protocol { .. }) if tries < self.retries => {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Ping a servo; returns its model number.
    ///
    /// # Errors
    /// No answer, a broken answer, or the servo's error bits.
    pub fn ping(&mut self, id: u8) -> Result<u16> {
        self.args.clear();
        self.exchange(id, inst::PING, &|| format!("ping of servo {id}"))?;
        match self.protocol {
            Protocol::Dynamixel => {
                if self.params.len() < 2 {
                    return Err(Error::protocol(
                        format!("ping of servo {id}"),
                        "the answer has no model number",
                    ));
                }
                Ok(u16::from_le_bytes([self.params[0], self.params[1]]))
            }
            Protocol::Feetech => {
                // Feetech's ping answer is empty: the model number is register 3.
                let mut model = [0u8; 2];
                self.read(id, 3, &mut model)?;
                Ok(u16::from_le_bytes(model))
            }
        }
    }

    /// Read `out.len()` bytes from `addr` of one servo.
    ///
    /// # Errors
    /// No answer, a short answer, or the servo's error bits.
    pub fn read(&mut self, id: u8, addr: u16, out: &mut [u8]) -> Result<()> {
        self.args.clear();
        self.protocol.address(addr, out.len() as u16, &mut self.args);
        let what = || format!("read of {} bytes at {addr} from servo {id}", out.len());
        self.exchange(id, inst::READ, &what)?;
        if self.params.len() != out.len() {
            return Err(Error::protocol(
                what(),
                format!("{} bytes came back, {} asked for", self.params.len(), out.len()),
            ));
        }
        out.copy_from_slice(&self.params);
        Ok(())
    }

    /// Write `data` at `addr` of one servo (and wait for its acknowledgement; none for the
    /// broadcast id).
    ///
    /// # Errors
    /// No acknowledgement, or the servo's error bits.
    pub fn write(&mut self, id: u8, addr: u16, data: &[u8]) -> Result<()> {
        self.args.clear();
        let width = self.protocol.address_width();
        self.args.extend_from_slice(&addr.to_le_bytes()[..width]);
        self.args.extend_from_slice(data);
        if id == BROADCAST {
            return self.send(id, inst::WRITE);
        }
        self.exchange(id, inst::WRITE, &|| format!("write at {addr} to servo {id}"))
    }

    /// Read `len` bytes at `addr` from each of `ids` in one request; servo *k*'s bytes land
    /// in `out[k·len..(k+1)·len]`. Error bits go to [`ServoBus::errors`] (the data still
    /// counts: an overheating servo still reports where it is).
    ///
    /// # Errors
    /// A servo that does not answer in time (named), or answers with the wrong length.
    pub fn sync_read(&mut self, ids: &[u8], addr: u16, len: u16, out: &mut [u8]) -> Result<()> {
        let n = len as usize;
        if out.len() != ids.len() * n {
            return Err(Error::config("sync read", "the output does not fit ids × len"));
        }
        self.args.clear();
        self.protocol.address(addr, len, &mut self.args);
        self.args.extend_from_slice(ids);
        self.send(BROADCAST, inst::SYNC_READ)?;
        self.errors.clear();
        let deadline = Instant::now() + self.timeout;
        for (k, &id) in ids.iter().enumerate() {
            let what = || format!("sync read of {len} bytes at {addr}: servo {id}");
            let error = self.status(id, deadline, &what)?;
            if self.params.len() != n {
                return Err(Error::protocol(
                    what(),
                    format!("{} bytes came back, {n} asked for", self.params.len()),
                ));
            }
            if error != 0 {
                self.errors.push((id, error));
            }
            out[k * n..(k + 1) * n].copy_from_slice(&self.params);
        }
        Ok(())
    }

    /// Write `len` bytes at `addr` to each of `ids` in one packet (no answers); servo *k*'s
    /// bytes are `data[k·len..(k+1)·len]`.
    ///
    /// # Errors
    /// The port failed.
    pub fn sync_write(&mut self, ids: &[u8], addr: u16, len: u16, data: &[u8]) -> Result<()> {
        let n = len as usize;
        if data.len() != ids.len() * n {
            return Err(Error::config("sync write", "the data does not fit ids × len"));
        }
        self.args.clear();
        self.protocol.address(addr, len, &mut self.args);
        for (k, &id) in ids.iter().enumerate() {
            self.args.push(id);
            self.args.extend_from_slice(&data[k * n..(k + 1) * n]);
        }
        self.send(BROADCAST, inst::SYNC_WRITE)
    }
}
