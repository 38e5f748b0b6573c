//! `spelunk-bridge`: trained policies on real robot arms, safely.
//!
//! - [`transport`]: serial ports (USB-serial adapters, a firmware's USB CDC port), UDP, and
//!   pseudo-terminals, behind one [`transport::Transport`] trait;
//! - [`servo`]: Feetech SCS/STS and Dynamixel Protocol 2.0 packets, control tables (STS3215,
//!   XL330, XM430) and the host side of a bus — ping, read, write, sync read, sync write, the
//!   servos' error bits decoded;
//! - [`calibration`]: ticks ↔ joint positions per joint, from our TOML or LeRobot's JSON;
//! - [`arm`]: an arm as joints in, targets out — on a servo bus ([`arm::ServoArm`]) or on our
//!   own firmware speaking `spelunk-wire` ([`arm::WireArm`]);
//! - [`safety`] and [`control`]: the control loop on its own thread, with limits, rate
//!   limits, a start-up ramp, a watchdog and a latched e-stop on by default, and a log of
//!   every command as sent;
//! - [`sim`]: a rapier arm answering as a Feetech bus, a Dynamixel bus or a `spelunk-wire`
//!   firmware over a pty or UDP, with fault injection;
//! - [`twin`]: a policy trained in the simulator acting on a real arm, through a simulated
//!   twin that follows the arm's measured joints.
//!
//! `docs/bridge.md` walks through wiring an SO-100 end to end and the wire format byte by byte.

pub mod arm;
pub mod bench;
pub mod calibration;
pub mod control;
pub mod error;
pub mod robot;
pub mod safety;
pub mod servo;
pub mod sim;
pub mod transport;
pub mod twin;

pub use error::{Error, Result};
