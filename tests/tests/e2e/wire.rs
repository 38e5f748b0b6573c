//! `spelunk-wire`: the CRC and COBS against their published check values, every message
//! round-tripped, and millions of random and mutated byte streams through the decoder — it
//! never panics, never accepts a damaged frame, and always decodes the next good one.

use spelunk_core::Rng;
use spelunk_wire::{
    cobs_decode, cobs_encode, crc16, encode, Decoder, Fault, FaultCode, Hello, JointLimit,
    JointState, JointStates, JointTargets, Limits, Message, WireError, MAX_FRAME, MAX_JOINTS,
};

#[test]
fn crc16_matches_the_ccitt_false_check_value() {
    // The catalogue's check value of CRC-16/CCITT-FALSE over "123456789".
    assert_eq!(crc16(b"123456789"), 0x29B1);
}

#[test]
fn cobs_matches_the_published_examples() {
    let cases: [(&[u8], &[u8]); 5] = [
        (&[0x00], &[0x01, 0x01]),
        (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
        (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
        (&[0x11, 0x22, 0x33, 0x44], &[0x05, 0x11, 0x22, 0x33, 0x44]),
        (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
    ];
    for (raw, enc) in cases {
        let mut out = [0u8; 16];
        let n = cobs_encode(raw, &mut out).expect("fits");
        assert_eq!(&out[..n], enc, "encoding {raw:02x?}");
        let mut buf = enc.to_vec();
        let m = cobs_decode(&mut buf).expect("valid");
        assert_eq!(&buf[..m], raw);
    }
    // 254 non-zero bytes: one full block, no trailing code byte.
    let raw: Vec<u8> = (1..=254).collect();
    let mut out = [0u8; 300];
    let n = cobs_encode(&raw, &mut out).expect("fits");
    assert_eq!(n, 255);
    assert_eq!(out[0], 0xFF);
    let mut buf = out[..n].to_vec();
    let m = cobs_decode(&mut buf).expect("valid");
    assert_eq!(&buf[..m], &raw[..]);
}

fn random_message(rng: &mut Rng) -> Message {
    let n = rng.index(MAX_JOINTS + 1) as u8;
    let f = |rng: &mut Rng| (rng.f32() - 0.5) * 8.0;
    match rng.index(8) {
        0 => Message::Hello(Hello {
            firmware: rng.next_u32() as u16,
            device_id: rng.next_u32(),
            joints: n,
        }),
        1 => {
            let mut positions = [0.0; MAX_JOINTS];
            for p in &mut positions[..n as usize] {
                *p = f(rng);
            }
            Message::JointTargets(JointTargets {
                seq: rng.next_u32(),
                deadline_us: rng.next_u32(),
                n,
                positions,
            })
        }
        2 => {
            let mut joints = [JointState::default(); MAX_JOINTS];
            for j in &mut joints[..n as usize] {
                *j = JointState {
                    position: f(rng),
                    velocity: f(rng),
                    load: rng.next_u32() as i16,
                    temperature: rng.next_u32() as u8,
                    flags: rng.next_u32() as u8,
                };
            }
            Message::JointStates(JointStates {
                seq: rng.next_u32(),
                timestamp_us: rng.next_u64(),
                n,
                joints,
            })
        }
        3 => Message::Heartbeat { seq: rng.next_u32() },
        4 => Message::EStop { reason: rng.next_u32() as u8 },
        5 => Message::Reset,
        6 => {
            let mut joints = [JointLimit::default(); MAX_JOINTS];
            for j in &mut joints[..n as usize] {
                let a = f(rng);
                *j = JointLimit {
                    lower: a,
                    upper: a + rng.f32(),
                    max_velocity: rng.f32() * 5.0,
                    max_step: rng.f32(),
                };
            }
            Message::Limits(Limits { n, joints })
        }
        _ => Message::Fault(Fault {
            code: [FaultCode::Watchdog, FaultCode::EStop, FaultCode::Limit, FaultCode::BadFrame]
                [rng.index(4)],
            joint: rng.next_u32() as u8,
            detail: rng.next_u32() as u16,
        }),
    }
}

fn frame(msg: &Message) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    let n = encode(msg, &mut out).expect("a valid message encodes");
    out[..n].to_vec()
}

fn decode_all(bytes: &[u8]) -> (Vec<Message>, Vec<WireError>) {
    let mut d = Decoder::new();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    d.feed(bytes, |r| match r {
        Ok(m) => ok.push(m),
        Err(e) => bad.push(e),
    });
    (ok, bad)
}

#[test]
fn every_message_round_trips_and_frames_never_exceed_the_bound() {
    let mut rng = Rng::seed_from_u64(1);
    for _ in 0..20_000 {
        let m = random_message(&mut rng);
        let f = frame(&m);
        assert!(f.len() <= MAX_FRAME);
        assert_eq!(f.iter().position(|&b| b == 0), Some(f.len() - 1), "one zero, at the end");
        assert_eq!(decode_all(&f), (vec![m], vec![]));
    }
}

#[test]
fn messages_that_could_not_be_decoded_are_never_encoded() {
    let mut t = JointTargets { seq: 1, deadline_us: 0, n: 2, positions: [0.0; MAX_JOINTS] };
    t.positions[1] = f32::NAN;
    let mut out = [0u8; MAX_FRAME];
    assert_eq!(
        encode(&Message::JointTargets(t), &mut out),
        Err(WireError::NotFinite { field: "position", joint: 1 })
    );
    t.positions[1] = 0.0;
    t.n = 9;
    assert_eq!(encode(&Message::JointTargets(t), &mut out), Err(WireError::Joints(9)));
    let mut l = Limits { n: 1, joints: [JointLimit::default(); MAX_JOINTS] };
    l.joints[0] = JointLimit { lower: 1.0, upper: 0.0, max_velocity: 1.0, max_step: 0.1 };
    assert_eq!(
        encode(&Message::Limits(l), &mut out),
        Err(WireError::Range { field: "lower > upper", joint: 0 })
    );
}

/// Damage a frame (its closing zero kept off): flip bits, insert, delete, duplicate or cut.
fn mutate(rng: &mut Rng, f: &mut Vec<u8>) {
    for _ in 0..=rng.index(3) {
        if f.is_empty() {
            f.push(rng.next_u32() as u8);
        }
        match rng.index(5) {
            0 | 1 => {
                let at = rng.index(f.len());
                f[at] ^= 1 << rng.index(8);
            }
            2 => {
                let at = rng.index(f.len() + 1);
                f.insert(at, rng.next_u32() as u8);
            }
            3 => {
                f.remove(rng.index(f.len()));
            }
            _ => {
                let cut = rng.index(f.len());
                f.truncate(cut);
            }
        }
    }
}

#[test]
fn a_million_damaged_and_random_streams_never_panic_never_pass_a_bad_frame_and_resync() {
    let mut rng = Rng::seed_from_u64(7);
    let mut decoder = Decoder::new();
    let (mut streams, mut reported, mut bit_flips) = (0u64, 0u64, 0u64);
    for round in 0..1_000_000u64 {
        let good = random_message(&mut rng);
        let good_frame = frame(&good);
        let mut bytes = Vec::with_capacity(2 * MAX_FRAME);
        if round % 2 == 0 {
            // A damaged frame.
            let original = random_message(&mut rng);
            let mut f = frame(&original);
            f.pop();
            let clean = f.clone();
            mutate(&mut rng, &mut f);
            let flips_only = f.len() == clean.len();
            bytes.extend_from_slice(&f);
            bytes.push(0);
            let mut got = Vec::new();
            let mut errors = 0;
            decoder.feed(&bytes, |r| match r {
                Ok(m) => got.push(m),
                Err(_) => errors += 1,
            });
            // Up to three flipped bits inside a frame are always caught by the CRC (CRC-16's
            // Hamming distance is 4 at these lengths): nothing but the original can come out.
            if flips_only && f != clean {
                bit_flips += 1;
                assert!(got.iter().all(|m| *m == original), "a damaged frame decoded as {got:?}");
                if got.is_empty() {
                    assert!(errors > 0, "a damaged frame was dropped without a report");
                }
            }
            reported += errors;
        } else {
            // Random bytes, zeros included.
            let n = rng.index(3 * MAX_FRAME);
            bytes.extend((0..n).map(|_| rng.next_u32() as u8));
            bytes.push(0);
            decoder.feed(&bytes, |r| reported += u64::from(r.is_err()));
        }
        // Whatever came before, the next good frame decodes.
        let mut next = Vec::new();
        decoder.feed(&good_frame, |r| next.push(r));
        assert_eq!(next, vec![Ok(good)], "round {round}: no resync");
        streams += 1;
    }
    assert_eq!(streams, 1_000_000);
    assert!(bit_flips > 100_000 && reported > 500_000, "{bit_flips} flips, {reported} reports");
}

#[test]
fn a_run_of_bytes_longer_than_a_frame_is_reported_once_and_skipped() {
    let mut bytes = vec![0x55u8; 5 * MAX_FRAME];
    bytes.push(0);
    let good = Message::Heartbeat { seq: 9 };
    bytes.extend_from_slice(&frame(&good));
    assert_eq!(decode_all(&bytes), (vec![good], vec![WireError::TooLong]));
}

#[test]
fn the_heartbeat_in_docs_bridge_md_is_the_bytes_we_send() {
    // docs/bridge.md works this frame out byte by byte.
    assert_eq!(
        frame(&Message::Heartbeat { seq: 1 }),
        [0x04, 0x01, 0x04, 0x01, 0x01, 0x01, 0x03, 0x02, 0xB4, 0x00]
    );
}
