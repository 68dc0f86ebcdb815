//! Encoding and decoding of BFD Control packets (RFC 5880 §4.1) round-trip.

use std::time::Duration;

use bfd::{ControlPacket, Diagnostic, State};
use proptest::prelude::*;

fn state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::AdminDown),
        Just(State::Down),
        Just(State::Init),
        Just(State::Up)
    ]
}

proptest! {
    /// Every packet the checks of §6.8.6 accept decodes to what was encoded.
    #[test]
    fn round_trip(
        diag in 0u8..32, state in state(), poll: bool, cpi: bool, demand: bool,
        mult in 1u8.., my in 1u32.., your: u32, tx: u32, rx: u32, echo: u32,
    ) {
        let your = if matches!(state, State::Down | State::AdminDown) { your } else { your.max(1) };
        let packet = ControlPacket {
            diagnostic: Diagnostic::from_code(diag),
            state,
            poll,
            // never P and F together (§6.5)
            final_: !poll,
            control_plane_independent: cpi,
            demand,
            detect_mult: mult,
            my_discriminator: my,
            your_discriminator: your,
            desired_min_tx: Duration::from_micros(u64::from(tx)),
            required_min_rx: Duration::from_micros(u64::from(rx)),
            required_min_echo_rx: Duration::from_micros(u64::from(echo)),
        };
        prop_assert_eq!(ControlPacket::decode(&packet.encode()), Ok(packet));
        prop_assert_eq!(packet.diagnostic.code(), diag);
    }
}
