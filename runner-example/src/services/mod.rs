//! The two services behind the gateway, each its own HTTP service: the wallet (critical to the
//! page) and the scratch-card service (best effort), with what they share: the deadline they
//! honour, their stats and admin routes ([`downstream`]), and the faults they inject on demand
//! ([`faults`]), so that the gateway's degradation can be watched live.

pub(crate) mod downstream;
pub(crate) mod faults;
pub(crate) mod scratch;
pub(crate) mod wallet;
