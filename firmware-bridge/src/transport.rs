//! Byte transports: a serial port (a USB-serial adapter of a servo bus, or a firmware's USB CDC
//! port), a UDP socket, and pseudo-terminals for the simulated arm. Every protocol of the bridge
//! talks through the one [`Transport`] trait, so the code that drives a real arm is the code the
//! simulator tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use serialport::{ClearBuffer, SerialPort, TTYPort};

use crate::error::{Error, Result};

/// A byte stream to a device.
pub trait Transport: Send {
    /// What this is, for messages (`/dev/ttyUSB0`, `udp:127.0.0.1:9000`).
    fn name(&self) -> &str;
    /// Send every byte.
    ///
    /// # Errors
    /// The port failed or disappeared.
    fn write_all(&mut self, bytes: &[u8]) -> Result<()>;
    /// Read what has arrived, waiting at most `timeout` for the first byte; `Ok(0)` when
    /// nothing came.
    ///
    /// # Errors
    /// The port failed or disappeared.
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize>;
    /// Drop bytes received and not yet read (before a new request, as the servo SDKs do).
    ///
    /// # Errors
    /// The port failed.
    fn clear_input(&mut self) -> Result<()>;
}

/// A serial port (or a pseudo-terminal, which is one to its user).
pub struct Serial {
    port: TTYPort,
    name: String,
}

impl Serial {
    /// Open `path` at `baud` bits/s, 8N1, raw, exclusively.
    ///
    /// # Errors
    /// The port does not exist, is busy, or refuses the settings.
    pub fn open(path: &str, baud: u32) -> Result<Self> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(10))
            .open_native()
            .map_err(|e| {
                Error::port(
                    path,
                    format!(
                        "cannot open it: {e} (is the adapter plugged in, and is the port free?)"
                    ),
                )
            })?;
        Ok(Self { port, name: path.to_owned() })
    }

    /// A pseudo-terminal pair: `(device side, path of the other end)`. The device side answers
    /// as a bus would; anything that opens the path (our driver, a vendor's Python SDK) talks to
    /// it as to a USB-serial adapter. The returned `keep` end must stay open while clients
    /// come and go (on Linux the device side reads errors once no end is open).
    ///
    /// # Errors
    /// No pseudo-terminal could be made.
    pub fn pty() -> Result<(Self, String, TTYPort)> {
        let (master, keep) =
            TTYPort::pair().map_err(|e| Error::port("pty", format!("cannot make one: {e}")))?;
        let path = keep.name().ok_or_else(|| Error::port("pty", "it has no path"))?;
        Ok((Self { port: master, name: format!("pty master of {path}") }, path, keep))
    }
}

fn io_err(port: &str, e: &std::io::Error) -> Error {
    Error::port(port, format!("{e} (unplugged?)"))
}

impl Transport for Serial {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.port.write_all(bytes).map_err(|e| io_err(&self.name, &e))
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.port.set_timeout(timeout).map_err(|e| Error::port(&self.name, e))?;
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(io_err(&self.name, &e)),
        }
    }

    fn clear_input(&mut self) -> Result<()> {
        self.port.clear(ClearBuffer::Input).map_err(|e| Error::port(&self.name, e))
    }
}

/// A UDP socket talking to one peer; datagrams are read as a byte stream.
pub struct Udp {
    socket: UdpSocket,
    peer: Option<SocketAddr>,
    /// Answer whoever sent the last datagram (a device), rather than one fixed peer (a host).
    follow: bool,
    name: String,
    pending: Vec<u8>,
    at: usize,
}

impl Udp {
    /// Bind `local` and talk to `peer` (a host driving a UDP device).
    ///
    /// # Errors
    /// The address is taken or invalid.
    pub fn connect(local: &str, peer: &str) -> Result<Self> {
        let name = format!("udp:{peer}");
        let socket =
            UdpSocket::bind(local).map_err(|e| Error::port(&name, format!("bind {local}: {e}")))?;
        let peer: SocketAddr =
            peer.parse().map_err(|e| Error::port(&name, format!("not an address: {e}")))?;
        Ok(Self { socket, peer: Some(peer), follow: false, name, pending: Vec::new(), at: 0 })
    }

    /// Bind `local` and answer whoever sent the last datagram (a device waiting for a host).
    ///
    /// # Errors
    /// The address is taken or invalid.
    pub fn listen(local: &str) -> Result<Self> {
        let name = format!("udp:{local}");
        let socket =
            UdpSocket::bind(local).map_err(|e| Error::port(&name, format!("bind: {e}")))?;
        Ok(Self { socket, peer: None, follow: true, name, pending: Vec::new(), at: 0 })
    }

    /// The bound local address.
    ///
    /// # Errors
    /// The socket failed.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket.local_addr().map_err(|e| Error::port(&self.name, e))
    }
}

impl Transport for Udp {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(peer) = self.peer else {
            // A device with no host yet: nobody to answer.
            return Ok(());
        };
        self.socket.send_to(bytes, peer).map(|_| ()).map_err(|e| io_err(&self.name, &e))
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        if self.at == self.pending.len() {
            self.socket
                .set_read_timeout(Some(timeout.max(Duration::from_micros(1))))
                .map_err(|e| Error::port(&self.name, e))?;
            self.pending.resize(65_536, 0);
            match self.socket.recv_from(&mut self.pending) {
                Ok((n, from)) => {
                    self.pending.truncate(n);
                    self.at = 0;
                    if self.follow {
                        self.peer = Some(from);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    self.pending.clear();
                    self.at = 0;
                    return Ok(0);
                }
                Err(e) => return Err(io_err(&self.name, &e)),
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }

    fn clear_input(&mut self) -> Result<()> {
        self.pending.clear();
        self.at = 0;
        Ok(())
    }
}

/// Read exactly `buf.len()` bytes, or fail with a timeout naming `what`.
///
/// # Errors
/// The port failed, or the bytes did not all come within `timeout`.
pub fn read_exact(
    t: &mut dyn Transport,
    buf: &mut [u8],
    timeout: Duration,
    what: &dyn Fn() -> String,
) -> Result<()> {
    let start = std::time::Instant::now();
    let mut got = 0;
    while got < buf.len() {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(Error::Timeout { what: what(), timeout_ms: timeout.as_millis() as u64 });
        }
        got += t.read(&mut buf[got..], left)?;
    }
    Ok(())
}
