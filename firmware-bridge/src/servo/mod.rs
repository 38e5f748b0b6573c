//! Serial-bus servos: the two protocols' packets ([`packet`]), the control tables of the
//! models the bridge knows ([`table`]), and the host side of a bus ([`bus`]).

pub mod bus;
pub mod packet;
pub mod table;

pub use bus::{BusStats, ServoBus};
pub use packet::{inst, Frame, Protocol, BROADCAST};
pub use table::{Model, Reg, Register, MODELS, STS3215, XL330_M288, XM430_W350};
