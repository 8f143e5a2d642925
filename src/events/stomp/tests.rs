use super::*;

fn decode_all(bytes: &[u8]) -> Vec<Item> {
    let mut d = Decoder::new();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(item) = d.next_item().expect("decodes") {
        out.push(item);
    }
    out
}

fn frames(items: Vec<Item>) -> Vec<Frame> {
    items
        .into_iter()
        .filter_map(|i| match i {
            Item::Frame(f) => Some(f),
            Item::HeartBeat => None,
        })
        .collect()
}

#[test]
fn a_frame_round_trips() {
    let f = Frame::new("SEND")
        .header("destination", "/amq/queue/consumer_1")
        .header("content-type", "application/json")
        .body(r#"{"object_type":"order"}"#);
    let bytes = f.encode().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "SEND\ndestination:/amq/queue/consumer_1\ncontent-type:application/json\n\n{\"object_type\":\"order\"}\0"
    );
    assert_eq!(decode_all(&bytes), vec![Item::Frame(f)]);
}

#[test]
fn headers_are_escaped_except_in_connect_frames() {
    let f = Frame::new("MESSAGE")
        .header("we:ird", "a\nb\rc:d\\e")
        .body("x");
    let bytes = f.encode().unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("we\\cird:a\\nb\\rc\\cd\\\\e\n"), "{text:?}");
    assert_eq!(decode_all(&bytes), vec![Item::Frame(f)]);

    // CONNECT/STOMP/CONNECTED: verbatim; a colon in a value stays, a line break cannot.
    let connect = Frame::new("STOMP").header("passcode", "a:b\\c");
    let bytes = connect.encode().unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("passcode:a:b\\c\n"));
    assert_eq!(decode_all(&bytes), vec![Item::Frame(connect)]);
    assert!(matches!(
        Frame::new("STOMP").header("passcode", "a\nb").encode(),
        Err(CodecError::Unencodable(..))
    ));
    let mut d = Decoder::new();
    d.push(b"CONNECTED\nserver:RabbitMQ/3.10.8\nsession:a\\b\n\n\0");
    let Some(Item::Frame(f)) = d.next_item().unwrap() else {
        panic!()
    };
    assert_eq!(f.get("session"), Some("a\\b"));
}

#[test]
fn undefined_escapes_and_bad_lines_are_errors() {
    let mut d = Decoder::new();
    d.push(b"MESSAGE\nkey:a\\tb\n\n\0");
    assert_eq!(d.next_item(), Err(CodecError::BadEscape('t')));
    let mut d = Decoder::new();
    d.push(b"MESSAGE\nno colon here\n\n\0");
    assert!(matches!(d.next_item(), Err(CodecError::NoColon(_))));
    let mut d = Decoder::new();
    d.push(b"MESSAGE\ncontent-length:x\n\n\0");
    assert!(matches!(d.next_item(), Err(CodecError::BadLength(_))));
    let mut d = Decoder::new();
    d.push(b"MESSAGE\ncontent-length:2\n\nabc\0");
    assert_eq!(d.next_item(), Err(CodecError::NoNul));
}

#[test]
fn the_body_ends_at_nul_or_after_content_length() {
    // Without content-length the first NUL ends the body; frames may follow at once.
    let items = decode_all(b"MESSAGE\na:1\n\nfirst\0MESSAGE\na:2\n\nsecond\0");
    let fs = frames(items);
    assert_eq!(fs.len(), 2);
    assert_eq!(fs[0].body, b"first");
    assert_eq!(fs[1].get("a"), Some("2"));

    // With it, the body may hold NUL; encode adds the header when it must.
    let f = Frame::new("MESSAGE").body(&b"a\0b"[..]);
    let bytes = f.encode().unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("content-length:3\n"));
    let back = frames(decode_all(&bytes));
    assert_eq!(back[0].body, b"a\0b");

    // An empty body.
    let back = frames(decode_all(b"RECEIPT\nreceipt-id:7\n\n\0"));
    assert_eq!(back[0].body, b"");
}

#[test]
fn heart_beats_are_bare_eols() {
    let items = decode_all(b"\n\r\n\nMESSAGE\n\nx\0\n\n");
    assert_eq!(
        items.iter().filter(|i| **i == Item::HeartBeat).count(),
        5,
        "{items:?}"
    );
    assert_eq!(frames(items).len(), 1);
    // A lone CR waits for its LF.
    let mut d = Decoder::new();
    d.push(b"\r");
    assert_eq!(d.next_item(), Ok(None));
    d.push(b"\n");
    assert_eq!(d.next_item(), Ok(Some(Item::HeartBeat)));
}

#[test]
fn crlf_lines_are_accepted() {
    let fs = frames(decode_all(
        b"MESSAGE\r\ndestination:/queue/q\r\nsubscription:q\r\n\r\n{}\0",
    ));
    assert_eq!(fs[0].get("destination"), Some("/queue/q"));
    assert_eq!(fs[0].get("subscription"), Some("q"));
    assert_eq!(fs[0].body, b"{}");
}

#[test]
fn repeated_headers_keep_the_first_value() {
    let fs = frames(decode_all(b"MESSAGE\nfoo:1\nfoo:2\n\n\0"));
    assert_eq!(fs[0].get("foo"), Some("1"));
}

#[test]
fn frames_split_across_websocket_messages_come_out_whole() {
    let a = Frame::new("MESSAGE")
        .header("destination", "/queue/consumer_x")
        .header("message-id", "T_1@@session@@1")
        .body(r#"{"object_type":"resource","resource_uuid":"e1"}"#)
        .encode()
        .unwrap();
    let b = Frame::new("MESSAGE")
        .header("content-length", "4")
        .body("ab\0c")
        .encode()
        .unwrap();
    let mut stream = a.clone();
    stream.push(b'\n');
    stream.extend_from_slice(&b);
    // Every split point, and one byte at a time.
    for cut in 0..stream.len() {
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for part in [&stream[..cut], &stream[cut..]] {
            d.push(part);
            while let Some(item) = d.next_item().unwrap() {
                got.push(item);
            }
        }
        let fs = frames(got);
        assert_eq!(fs.len(), 2, "cut at {cut}");
        assert_eq!(fs[1].body, b"ab\0c");
    }
    let mut d = Decoder::new();
    let mut got = Vec::new();
    for byte in &stream {
        d.push(std::slice::from_ref(byte));
        while let Some(item) = d.next_item().unwrap() {
            got.push(item);
        }
    }
    assert_eq!(got.len(), 3, "two frames and a heart-beat");
}

#[test]
fn a_frame_without_end_is_bounded() {
    let mut d = Decoder::new();
    d.push(b"MESSAGE\n\n");
    d.push(&vec![b'x'; MAX_FRAME + 1]);
    assert_eq!(d.next_item(), Err(CodecError::TooLarge));
    let mut d = Decoder::new();
    d.push(format!("MESSAGE\ncontent-length:{}\n\n", MAX_FRAME + 1).as_bytes());
    assert_eq!(d.next_item(), Err(CodecError::TooLarge));
}

#[test]
fn display_never_shows_connect_headers() {
    let f = Frame::new("STOMP").header("passcode", "SECRET");
    assert_eq!(f.to_string(), "STOMP");
    let e = Frame::new("ERROR").header("message", "Bad CONNECT\u{1b}[2J");
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
}
