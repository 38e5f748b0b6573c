//! Control tables: where each register the bridge uses lives on a servo model, its width, and
//! how negative numbers are written (Feetech: sign-magnitude with a per-register sign bit;
//! Dynamixel: two's complement). Names follow the vendors' manuals and LeRobot's tables.

use super::packet::Protocol;

/// The registers the bridge reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// Model number (what a ping reports).
    ModelNumber,
    /// Bus id.
    Id,
    /// Offset the servo subtracts from its raw position (calibration).
    HomingOffset,
    /// Lowest goal the servo accepts.
    MinPosition,
    /// Highest goal the servo accepts.
    MaxPosition,
    /// 1 = torque on.
    TorqueEnable,
    /// Where to go, ticks.
    GoalPosition,
    /// Where it is, ticks.
    PresentPosition,
    /// Speed, ticks/s (Feetech) or 0.229 rpm units (Dynamixel).
    PresentVelocity,
    /// Load (Feetech, 0.1 % units) or current (Dynamixel, mA units of the model).
    PresentLoad,
    /// °C.
    PresentTemperature,
    /// Feetech's EEPROM lock (0 = writable).
    Lock,
}

/// Where a register lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register {
    /// Address.
    pub addr: u16,
    /// Bytes (1, 2 or 4).
    pub size: u16,
    /// Feetech sign-magnitude: the bit that holds the sign (`None`: unsigned, or two's
    /// complement on Dynamixel when `signed`).
    pub sign_bit: Option<u8>,
    /// Dynamixel two's complement.
    pub signed: bool,
}

/// One servo model's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    /// Name (`sts3215`, `xl330-m288`).
    pub name: &'static str,
    /// Model number it reports.
    pub number: u16,
    /// Protocol it speaks.
    pub protocol: Protocol,
    /// Ticks per turn.
    pub resolution: u32,
    /// Multi-byte registers are big-endian (Feetech SCS); the STS and Dynamixel are little.
    pub big_endian: bool,
    table: &'static [(Reg, Register)],
}

const fn r(addr: u16, size: u16) -> Register {
    Register { addr, size, sign_bit: None, signed: false }
}
const fn sm(addr: u16, size: u16, bit: u8) -> Register {
    Register { addr, size, sign_bit: Some(bit), signed: false }
}
const fn s(addr: u16, size: u16) -> Register {
    Register { addr, size, sign_bit: None, signed: true }
}

/// Feetech STS3215 (SO-100 and SO-101 arms): 4096 ticks per turn.
pub const STS3215: Model = Model {
    name: "sts3215",
    number: 777,
    protocol: Protocol::Feetech,
    resolution: 4096,
    big_endian: false,
    table: &[
        (Reg::ModelNumber, r(3, 2)),
        (Reg::Id, r(5, 1)),
        (Reg::MinPosition, r(9, 2)),
        (Reg::MaxPosition, r(11, 2)),
        (Reg::HomingOffset, sm(31, 2, 11)),
        (Reg::TorqueEnable, r(40, 1)),
        (Reg::GoalPosition, sm(42, 2, 15)),
        (Reg::Lock, r(55, 1)),
        (Reg::PresentPosition, sm(56, 2, 15)),
        (Reg::PresentVelocity, sm(58, 2, 15)),
        (Reg::PresentLoad, sm(60, 2, 10)),
        (Reg::PresentTemperature, r(63, 1)),
    ],
};

const X_SERIES: &[(Reg, Register)] = &[
    (Reg::ModelNumber, r(0, 2)),
    (Reg::Id, r(7, 1)),
    (Reg::HomingOffset, s(20, 4)),
    (Reg::MaxPosition, r(48, 4)),
    (Reg::MinPosition, r(52, 4)),
    (Reg::TorqueEnable, r(64, 1)),
    (Reg::GoalPosition, s(116, 4)),
    (Reg::PresentLoad, s(126, 2)),
    (Reg::PresentVelocity, s(128, 4)),
    (Reg::PresentPosition, s(132, 4)),
    (Reg::PresentTemperature, r(146, 1)),
];

/// Dynamixel XL330-M288 (Koch and SO-style leader arms): 4096 ticks per turn.
pub const XL330_M288: Model = Model {
    name: "xl330-m288",
    number: 1200,
    protocol: Protocol::Dynamixel,
    resolution: 4096,
    big_endian: false,
    table: X_SERIES,
};

/// Dynamixel XM430-W350: 4096 ticks per turn.
pub const XM430_W350: Model = Model {
    name: "xm430-w350",
    number: 1020,
    protocol: Protocol::Dynamixel,
    resolution: 4096,
    big_endian: false,
    table: X_SERIES,
};

/// Every model the bridge knows.
pub const MODELS: [Model; 3] = [STS3215, XL330_M288, XM430_W350];

impl Model {
    /// A model by name.
    #[must_use]
    pub fn by_name(name: &str) -> Option<Self> {
        MODELS.into_iter().find(|m| m.name == name)
    }

    /// A model by the number a ping reports, for a protocol.
    #[must_use]
    pub fn by_number(protocol: Protocol, number: u16) -> Option<Self> {
        MODELS.into_iter().find(|m| m.protocol == protocol && m.number == number)
    }

    /// Where `reg` lives (every model here has every register but `Lock`).
    #[must_use]
    pub fn register(&self, reg: Reg) -> Option<Register> {
        self.table.iter().find(|(r, _)| *r == reg).map(|&(_, r)| r)
    }

    /// The register at an address (the simulator's lookup).
    #[must_use]
    pub fn at(&self, addr: u16) -> Option<(Reg, Register)> {
        self.table.iter().find(|(_, r)| r.addr == addr).copied()
    }

    /// Every register.
    #[must_use]
    pub fn registers(&self) -> &'static [(Reg, Register)] {
        self.table
    }

    /// Write `value` into `out` (`reg.size` bytes) in the register's encoding; values that do
    /// not fit are clamped.
    pub fn encode(&self, reg: Register, value: i64, out: &mut [u8]) {
        let size = reg.size as usize;
        let raw: u64 = if let Some(bit) = reg.sign_bit {
            let max = (1i64 << bit) - 1;
            let mag = value.unsigned_abs().min(max as u64);
            if value < 0 {
                mag | (1 << bit)
            } else {
                mag
            }
        } else if reg.signed {
            let bits = 8 * size as u32;
            let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            (value.clamp(lo, hi) as u64) & ((1u64 << bits) - 1)
        } else {
            let bits = 8 * size as u32;
            value.clamp(0, (1i64 << bits) - 1) as u64
        };
        let bytes = raw.to_le_bytes();
        for k in 0..size {
            out[if self.big_endian { size - 1 - k } else { k }] = bytes[k];
        }
    }

    /// Read a register's value from its bytes.
    #[must_use]
    pub fn decode(&self, reg: Register, bytes: &[u8]) -> i64 {
        let size = reg.size as usize;
        let mut raw = 0u64;
        for k in 0..size {
            let b = bytes[if self.big_endian { size - 1 - k } else { k }];
            raw |= u64::from(b) << (8 * k);
        }
        if let Some(bit) = reg.sign_bit {
            let mag = (raw & ((1 << bit) - 1)) as i64;
            if raw & (1 << bit) == 0 {
                mag
            } else {
                -mag
            }
        } else if reg.signed {
            let bits = 8 * size as u32;
            ((raw << (64 - bits)) as i64) >> (64 - bits)
        } else {
            raw as i64
        }
    }
}
