//! The adversarial suite: a raw-socket neighbour (`tests/wire/adversary.py`) sends speakerd one
//! crafted message per case, beside a real BIRD, and each case asserts the exact reaction the
//! RFCs prescribe (the NOTIFICATION and its data, or a session that stays up with the RFC 7606
//! action applied to its routes) and that BIRD's session and its route in speakerd's kernel were
//! never disturbed.
//!
//! One table, [`CASES`], in three groups, each group one test with one lab: speakerd in `sd`,
//! BIRD in `p1` (198.18.1.2, AS 4200000002, announcing 198.19.100.0/24), and the adversary in
//! `p2`, with one address and one passive speakerd neighbour (AS 4200000003) per case
//! (198.18.2.10 and up), so that no case inherits another's damping or routes.
//!
//! The header group also sends valid messages in odd segmentations (one octet per segment, 100
//! in one write), an over-long shutdown communication and a ROUTE-REFRESH for a family nobody
//! advertised; the UPDATE group MP_REACH_NLRI/MP_UNREACH_NLRI and community errors, an unknown
//! optional transitive attribute and our own address as next hop; the OPEN group FSM errors
//! before the OPEN exchange ends, identifier, AS_TRANS and parameter-length cases.
//!
//! The expected answers come from the RFCs (RFC 4271 §4-§8, RFC 2918, RFC 4760, RFC 5492,
//! RFC 6286, RFC 6608, RFC 6793, RFC 7606, RFC 7607, RFC 8092, RFC 9003, RFC 9072), not from
//! what speakerd does; a case that fails names speakerd's defect.

mod lab;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use lab::{holds_for, wait_for, Bird, Lab};

const SD_AS: u32 = 4_200_000_001;
const BIRD_AS: u32 = 4_200_000_002;
const RAW_AS: u32 = 4_200_000_003;
const BIRD_PREFIX: &str = "198.19.100.0/24";
/// The prefixes of the UPDATE cases (the adversary's BEFORE, ALSO, AGGREGATED, DUPLICATED).
const BEFORE: &str = "198.19.200.0/24";
const ALSO: &str = "198.19.201.0/24";
const AGGREGATED: &str = "198.19.202.0/24";
const DUPLICATED: &str = "198.19.203.0/24";
/// The prefix carrying an unknown optional transitive attribute.
const PASSED: &str = "198.19.204.0/24";
/// The first and last of the burst of 100 UPDATEs (198.19.0.0/24 to 198.19.99.0/24).
/// The prefixes of the LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST cases.
const LOCAL_PREFERRED: &str = "198.19.205.0/24";
const ORIGINATED: &str = "198.19.206.0/24";
const CLUSTERED: &str = "198.19.207.0/24";
/// The prefix whose ORIGIN comes with the Extended Length bit.
const EXTENDED: &str = "198.19.208.0/24";
const BURST_FIRST: &str = "198.19.0.0/24";
const BURST_LAST: &str = "198.19.99.0/24";
const UP: Duration = Duration::from_secs(30);
/// How `birdc show route all` shows the unknown-optional-transitive case's attribute: type 199
/// in hex, the transitive flag, the value. BIRD 2 does not show the Partial bit.
const UNKNOWN_AT_BIRD: &str = "BGP.c7 [t]: 01 02 03";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Group {
    Header,
    Update,
    Open,
}

/// What speakerd must do.
enum Expect {
    /// Send this NOTIFICATION (data as hex) and close the session.
    Notification(u8, u8, &'static str),
    /// Keep the session up; these prefixes of the raw peer are not in speakerd's RIB or kernel
    /// (treat-as-withdraw, also of a prefix it had accepted before)...
    Up {
        withdrawn: &'static [&'static str],
        /// ...these are, and reach BIRD...
        accepted: &'static [&'static str],
        /// ...without these attributes (attribute discard), as `birdc show route all` names
        /// them...
        discarded: &'static [&'static str],
        /// ...and with these, as BIRD shows them; and speakerd's path of each (`speakerd show
        /// route PREFIX`) has none of these fields with these values (JSON), e.g. an attribute
        /// it must have discarded.
        kept: &'static [&'static str],
        not_at_speakerd: &'static [(&'static str, &'static str)],
    },
    /// Close the connection without a NOTIFICATION in reply (the peer sent one), and stay up.
    Closed,
    /// Keep the session up, and never put these prefixes in the kernel (whatever the RIB
    /// holds).
    NotInstalled(&'static [&'static str]),
}

struct Case {
    /// The adversary's case (`adversary.py --list`), which builds the bytes.
    name: &'static str,
    group: Group,
    /// A valid announcement of [`BEFORE`] comes first, and must be in speakerd's RIB before the
    /// crafted bytes are sent.
    before: bool,
    expect: Expect,
}

use Expect::Notification;

const fn up(withdrawn: &'static [&'static str]) -> Expect {
    Expect::Up {
        withdrawn,
        accepted: &[],
        discarded: &[],
        kept: &[],
        not_at_speakerd: &[],
    }
}

const CASES: &[Case] = &[
    // RFC 4271 §6.1: a marker not all ones is Connection Not Synchronized (no data).
    Case {
        name: "bad-marker",
        group: Group::Header,
        before: false,
        expect: Notification(1, 1, ""),
    },
    // §6.1: Length < 19 is Bad Message Length, the data the erroneous Length field.
    Case {
        name: "short-length",
        group: Group::Header,
        before: false,
        expect: Notification(1, 2, "0012"),
    },
    // §6.1: Length > 4096 (no extended messages negotiated, RFC 8654) likewise.
    Case {
        name: "long-length",
        group: Group::Header,
        before: false,
        expect: Notification(1, 2, "1001"),
    },
    // §6.1: a KEEPALIVE is exactly 19 octets; any other Length is Bad Message Length.
    Case {
        name: "keepalive-20",
        group: Group::Header,
        before: false,
        expect: Notification(1, 2, "0014"),
    },
    // §6.1: an unrecognised Type is Bad Message Type, the data the erroneous Type field.
    Case {
        name: "type-0",
        group: Group::Header,
        before: false,
        expect: Notification(1, 3, "00"),
    },
    Case {
        name: "type-7",
        group: Group::Header,
        before: false,
        expect: Notification(1, 3, "07"),
    },
    Case {
        name: "type-255",
        group: Group::Header,
        before: false,
        expect: Notification(1, 3, "ff"),
    },
    // §6.1: an UPDATE shorter than 23 octets is Bad Message Length.
    Case {
        name: "update-22",
        group: Group::Header,
        before: false,
        expect: Notification(1, 2, "0016"),
    },
    // RFC 4271 §4: BGP runs over TCP, a byte stream; a message ends where its header's Length
    // says (§4.1), however the octets were segmented: an UPDATE sent one octet per segment is
    // an UPDATE like any other.
    Case {
        name: "update-octet-segments",
        group: Group::Header,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[ALSO],
            discarded: &[],
            kept: &[],
            not_at_speakerd: &[],
        },
    },
    // Likewise many messages in one segment: 100 KEEPALIVEs (§4.4) are no error...
    Case {
        name: "keepalive-burst",
        group: Group::Header,
        before: false,
        expect: up(&[]),
    },
    // ...and 100 valid UPDATEs in one write are each processed.
    Case {
        name: "update-burst",
        group: Group::Header,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[BURST_FIRST, BURST_LAST],
            discarded: &[],
            kept: &[],
            not_at_speakerd: &[],
        },
    },
    // RFC 9003 §2 allows 128 octets of shutdown communication; a longer one is logged (§4),
    // not an error of its own. Any NOTIFICATION closes the connection, and none is sent in
    // reply (RFC 4271 §6.4, §8.2.2 Event 25).
    Case {
        name: "shutdown-communication-200",
        group: Group::Header,
        before: false,
        expect: Expect::Closed,
    },
    // RFC 2918 §4: a ROUTE-REFRESH for an <AFI, SAFI> the speaker did not advertise is ignored.
    Case {
        name: "route-refresh-unknown-family",
        group: Group::Header,
        before: false,
        expect: up(&[]),
    },
    // RFC 7313 §5: a BoRR or EoRR whose length (after the header) is not 4 is ROUTE-REFRESH
    // Message Error, Invalid Message Length (7/1), the data the complete message.
    Case {
        name: "borr-length-5",
        group: Group::Header,
        before: false,
        expect: Notification(7, 1, "ffffffffffffffffffffffffffffffff0018050001010100"),
    },
    // RFC 4271 §8.2.2 (Established, Events 19-22) and RFC 6608 §4: an OPEN in Established is
    // Receive Unexpected Message in Established State (5/3), the data its type (1).
    Case {
        name: "open-in-established",
        group: Group::Header,
        before: false,
        expect: Notification(5, 3, "01"),
    },
    // RFC 7606 §4: an attribute whose length overruns the Total Path Attribute Length is
    // treat-as-withdraw; that length still delimits the NLRI, which are withdrawn, including
    // one the peer had announced validly before.
    Case {
        name: "attr-overrun",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7606 §4, the second case: fewer than three octets left at the end of the attribute
    // block (too few for an attribute header) is treat-as-withdraw as well.
    Case {
        name: "attr-stray-octets",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7607 §2: AS 0 in AS_PATH makes it malformed; RFC 7606 §7.2: treat-as-withdraw.
    Case {
        name: "as0-path",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7607 §2: AS 0 in AGGREGATOR is handled by attribute discard (RFC 7606 §7.7): the
    // route is used, without AGGREGATOR.
    Case {
        name: "as0-aggregator",
        group: Group::Update,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[AGGREGATED],
            discarded: &["BGP.aggregator"],
            kept: &[],
            not_at_speakerd: &[],
        },
    },
    // RFC 7606 §3 d: a missing well-known mandatory attribute (here ORIGIN) is
    // treat-as-withdraw, not RFC 4271's 3/3.
    Case {
        name: "missing-origin",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7606 §7.1: an undefined ORIGIN value is treat-as-withdraw.
    Case {
        name: "invalid-origin",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7606 §3 c: Optional or Transitive bits in conflict with the type make the attribute
    // malformed, handled as its type says: treat-as-withdraw for ORIGIN (§7.1).
    Case {
        name: "origin-flags",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7606 §3 g: a repeated attribute (other than MP_REACH/MP_UNREACH) keeps its first
    // occurrence; the UPDATE is processed (ORIGIN IGP, not the second INCOMPLETE).
    Case {
        name: "duplicate-origin",
        group: Group::Update,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[DUPLICATED],
            discarded: &["BGP.origin: Incomplete"],
            kept: &[],
            not_at_speakerd: &[],
        },
    },
    // RFC 4271 §6.3: an unrecognised well-known attribute is 3/2, the data the attribute
    // (type, length, value); RFC 7606 keeps the session reset for it.
    Case {
        name: "unknown-well-known",
        group: Group::Update,
        before: false,
        expect: Notification(3, 2, "406300"),
    },
    // RFC 4271 §6.3, RFC 7606 §5.3: Withdrawn Routes Length overrunning the message is
    // Malformed Attribute List (no data), a session reset: the NLRI cannot be located.
    Case {
        name: "withdrawn-overrun",
        group: Group::Update,
        before: false,
        expect: Notification(3, 1, ""),
    },
    // Likewise a Total Path Attribute Length overrunning the message (RFC 7606 §4).
    Case {
        name: "attrs-overrun",
        group: Group::Update,
        before: false,
        expect: Notification(3, 1, ""),
    },
    // RFC 4271 §6.3: a syntactically incorrect NLRI field (prefix length 33) is Invalid Network
    // Field; RFC 7606 §5.3: session reset.
    Case {
        name: "nlri-33",
        group: Group::Update,
        before: false,
        expect: Notification(3, 10, ""),
    },
    // RFC 7606 §5.3: an NLRI longer than the family allows (129 for IPv6) makes the
    // MP_REACH_NLRI syntactically incorrect: session reset (or AFI/SAFI disable); RFC 4760 §7
    // names the NOTIFICATION Optional Attribute Error, and RFC 4271 §6.3 puts the attribute in
    // its data.
    Case {
        name: "mp-reach-v6-129",
        group: Group::Update,
        before: false,
        expect: Notification(
            3,
            9,
            "800e270002011020010db800020000000000000000001000812020202020202020202020202020202020",
        ),
    },
    // RFC 7606 §7.11: a next-hop length MP_REACH_NLRI's family does not allow (5 for IPv4)
    // leaves its NLRI unlocatable: session reset (or AFI/SAFI disable), 3/9 as above.
    Case {
        name: "mp-reach-next-hop-5",
        group: Group::Update,
        before: false,
        expect: Notification(3, 9, "800e0e00010105c6120201000018c613c9"),
    },
    // RFC 7606 §3 g: MP_REACH_NLRI appearing twice is Malformed Attribute List, a session
    // reset.
    Case {
        name: "mp-reach-twice",
        group: Group::Update,
        before: false,
        expect: Notification(3, 1, ""),
    },
    // RFC 4760 §4: an UPDATE carrying MP_UNREACH_NLRI needs no other attribute, so its
    // withdrawal of BEFORE stands; RFC 7606 §3 d: the NLRI field's ALSO, without the mandatory
    // attributes, is treat-as-withdraw. No NOTIFICATION.
    Case {
        name: "mp-unreach-and-nlri",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7606 §7.8: COMMUNITIES whose length is not a multiple of 4 is treat-as-withdraw.
    Case {
        name: "communities-5",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 8092 §6: LARGE_COMMUNITY whose length is not a non-zero multiple of 12 is
    // treat-as-withdraw.
    Case {
        name: "large-communities-13",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7606 §7.4: a MULTI_EXIT_DISC whose length is not 4 is treat-as-withdraw.
    Case {
        name: "med-3",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 9234 §5: an ONLY_TO_CUSTOMER whose length is not 4 is treat-as-withdraw.
    Case {
        name: "otc-3",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 7606 §7.14: Extended Communities whose length is not a non-zero multiple of 8 is
    // treat-as-withdraw.
    Case {
        name: "extended-communities-9",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 4271 §5 and §9: an unrecognized optional transitive attribute is accepted and passed
    // on with its Partial bit set.
    Case {
        name: "unknown-optional-transitive",
        group: Group::Update,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[PASSED],
            discarded: &[],
            kept: &[UNKNOWN_AT_BIRD],
            not_at_speakerd: &[],
        },
    },
    // RFC 7606 §7.2: AS_CONFED_SEQUENCE or AS_CONFED_SET segments in an AS_PATH from an
    // external peer (outside our confederation, RFC 5065 §5) make it malformed:
    // treat-as-withdraw.
    Case {
        name: "confed-path-ebgp",
        group: Group::Update,
        before: true,
        expect: up(&[BEFORE, ALSO]),
    },
    // RFC 4271 §4.3: the Extended Length bit says only how long the length field is; a
    // two-octet length on a one-octet ORIGIN is no error, and the route is used.
    Case {
        name: "origin-extended-length",
        group: Group::Update,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[EXTENDED],
            discarded: &[],
            kept: &[],
            not_at_speakerd: &[],
        },
    },
    // RFC 7606 §7.5: LOCAL_PREF from an external peer is discarded (attribute discard): the
    // route is used with the local default, not the 7777 the peer sent.
    Case {
        name: "local-pref-ebgp",
        group: Group::Update,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[LOCAL_PREFERRED],
            discarded: &[],
            kept: &[],
            not_at_speakerd: &[("local_pref", "7777")],
        },
    },
    // RFC 7606 §7.9 and §7.10: ORIGINATOR_ID and CLUSTER_LIST from an external peer are
    // discarded; so the route is used although they name speakerd's own identifier (which
    // from a route reflector client would be a loop, RFC 4456 §8).
    Case {
        name: "originator-id-ebgp",
        group: Group::Update,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[ORIGINATED],
            discarded: &[],
            kept: &[],
            not_at_speakerd: &[],
        },
    },
    Case {
        name: "cluster-list-ebgp",
        group: Group::Update,
        before: false,
        expect: Expect::Up {
            withdrawn: &[],
            accepted: &[CLUSTERED],
            discarded: &[],
            kept: &[],
            not_at_speakerd: &[],
        },
    },
    // RFC 6890 §2.2.2: 0.0.0.0/8 is no valid destination, and RFC 5771 §2: 224.0.0.0/4 is
    // multicast; neither may become a unicast route in the kernel. RFC 4271 §6.3: such NLRI
    // are syntactically correct, so there is no NOTIFICATION.
    Case {
        name: "nlri-this-network",
        group: Group::Update,
        before: false,
        expect: Expect::NotInstalled(&["0.0.0.0/8"]),
    },
    Case {
        name: "nlri-multicast",
        group: Group::Update,
        before: false,
        expect: Expect::NotInstalled(&["224.0.0.0/4"]),
    },
    // RFC 4271 §6.3: a NEXT_HOP that is the receiving speaker's own address is semantically
    // incorrect: the route is ignored, with no NOTIFICATION and the session kept.
    Case {
        name: "next-hop-speaker",
        group: Group::Update,
        before: false,
        expect: up(&[ALSO]),
    },
    // RFC 4271 §6.2: Unsupported Version Number, the data the largest supported version below
    // the one bid (4), as two octets.
    Case {
        name: "version-5",
        group: Group::Open,
        before: false,
        expect: Notification(2, 1, "0004"),
    },
    // §6.2: hold times of one or two seconds MUST be rejected: Unacceptable Hold Time.
    Case {
        name: "hold-1",
        group: Group::Open,
        before: false,
        expect: Notification(2, 6, ""),
    },
    Case {
        name: "hold-2",
        group: Group::Open,
        before: false,
        expect: Notification(2, 6, ""),
    },
    // §6.2 and RFC 6286 §2.2: identifier 0 is Bad BGP Identifier.
    Case {
        name: "id-0",
        group: Group::Open,
        before: false,
        expect: Notification(2, 3, ""),
    },
    // §6.2: an AS other than the configured one is Bad Peer AS (the adversary names
    // AS 4200000004, carried in the 4-octet AS capability, RFC 6793 §4.1).
    Case {
        name: "bad-peer-as",
        group: Group::Open,
        before: false,
        expect: Notification(2, 2, ""),
    },
    // RFC 4271 §6.1: an OPEN shorter than its minimum (29) is Bad Message Length.
    Case {
        name: "open-28",
        group: Group::Open,
        before: false,
        expect: Notification(1, 2, "001c"),
    },
    // §6.2: an unrecognised optional parameter (type 9) is Unsupported Optional Parameters.
    Case {
        name: "open-param-9",
        group: Group::Open,
        before: false,
        expect: Notification(2, 4, ""),
    },
    // RFC 4271 §8.2.2 (OpenConfirm, Event 27) and RFC 6608 §4: an UPDATE before our KEEPALIVE
    // was answered is Receive Unexpected Message in OpenConfirm State (5/2), the data the type
    // of the unexpected message (one octet).
    Case {
        name: "update-in-openconfirm",
        group: Group::Open,
        before: false,
        expect: Notification(5, 2, "02"),
    },
    // RFC 4271 §8.2.2 (OpenSent) and RFC 6608 §4: a KEEPALIVE or an UPDATE instead of the OPEN
    // is Receive Unexpected Message in OpenSent State (5/1), the data its type.
    Case {
        name: "keepalive-before-open",
        group: Group::Open,
        before: false,
        expect: Notification(5, 1, "04"),
    },
    Case {
        name: "update-before-open",
        group: Group::Open,
        before: false,
        expect: Notification(5, 1, "02"),
    },
    // RFC 6286 §2.2: the BGP Identifier is Bad BGP Identifier when zero, or equal to ours
    // from an internal peer only; an external peer may have ours (§2.1: unique within an AS).
    Case {
        name: "id-speaker",
        group: Group::Open,
        before: false,
        expect: up(&[]),
    },
    // RFC 6793 §4.1: My AS AS_TRANS without the 4-octet AS capability is a 2-octet speaker of
    // AS 23456, not the configured AS: Bad Peer AS (RFC 4271 §6.2).
    Case {
        name: "as-trans-without-capability",
        group: Group::Open,
        before: false,
        expect: Notification(2, 2, ""),
    },
    // RFC 4271 §6.2: a recognized optional parameter that is malformed (a capability running
    // past its parameter, RFC 5492 §4) is Unspecific (2/0)...
    Case {
        name: "capability-overrun",
        group: Group::Open,
        before: false,
        expect: Notification(2, 0, ""),
    },
    // ...as is an RFC 9072 §2 Extended Opt. Parm. Length running past the message.
    Case {
        name: "extended-parameters-overrun",
        group: Group::Open,
        before: false,
        expect: Notification(2, 0, ""),
    },
];

/// The address of case `i` of a group in the adversary's namespace.
fn raw_address(i: usize) -> String {
    format!("198.18.2.{}", 10 + i)
}

fn speakerd_conf(raw_peers: usize) -> String {
    let mut conf = format!(
        "[global]\nasn = {SD_AS}\nrouter_id = \"198.18.0.1\"\n\n[kernel]\necmp_max_paths = 8\n\n\
         [[neighbor]]\naddress = \"198.18.1.2\"\nremote_asn = {BIRD_AS}\n\
         local_address = \"198.18.1.1\"\nhold_time = 9\nconnect_retry_time = 2\n\
         families = [\"ipv4-unicast\"]\nimport = [\"accept-all\"]\nexport = [\"accept-all\"]\n\n"
    );
    for i in 0..raw_peers {
        conf.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nremote_asn = {RAW_AS}\nlocal_address = \"198.18.2.1\"\n\
             hold_time = 9\nconnect_retry_time = 2\npassive = true\n\
             families = [\"ipv4-unicast\", \"ipv6-unicast\"]\n\
             import = [\"accept-all\"]\nexport = [\"accept-all\"]\n\n",
            raw_address(i)
        ));
    }
    conf
}

/// BIRD announcing [`BIRD_PREFIX`]; well behaved, so its `error wait time` does not matter.
const BIRD_CONF: &str = "log stderr all;\nrouter id 198.18.1.2;\nprotocol device {}\n\
    protocol static announced {\n  ipv4;\n  route 198.19.100.0/24 blackhole;\n}\n\
    protocol bgp speakerd {\n  local 198.18.1.2 as 4200000002;\n  neighbor 198.18.1.1 as 4200000001;\n\
    hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
    ipv4 { import all; export all; };\n}\n";

struct Suite {
    lab: Lab,
    sd: String,
    raw_ns: String,
    bird: Bird,
    /// How many times speakerd's session with BIRD has become Established
    /// (`bgp_peer_established_total`): any reset of that session counts one more.
    bird_established: f64,
}

impl Suite {
    fn new(name: &str, raw_peers: usize) -> Suite {
        let mut lab = Lab::new(name);
        let sd = lab.ns("sd");
        let p1 = lab.ns("p1");
        let raw_ns = lab.ns("p2");
        lab.link(
            &sd,
            "eth1",
            &["198.18.1.1/24"],
            &p1,
            "eth0",
            &["198.18.1.2/24"],
        );
        let raw: Vec<String> = (0..raw_peers)
            .map(|i| format!("{}/24", raw_address(i)))
            .collect();
        let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
        lab.link(&sd, "eth2", &["198.18.2.1/24"], &raw_ns, "eth0", &raw);
        let bird = lab.bird("bird", &p1, BIRD_CONF);
        lab.speakerd("speakerd", &sd, &speakerd_conf(raw_peers));
        wait_for("BIRD's session Established", UP, || {
            bird.established("speakerd")
        });
        wait_for("speakerd's session with BIRD Established", UP, || {
            lab.speakerd_established(&sd, "198.18.1.2")
        });
        wait_for("BIRD's route in speakerd's kernel", UP, || {
            lab.kernel_route(&sd, BIRD_PREFIX)
                .ok_or_else(|| format!("{:?}", lab.kernel_routes(&sd, false)))
        });
        lab.route_monitor("routes", &sd);
        let bird_established = established_count(&lab, &sd).expect("speakerd's metrics");
        Suite {
            lab,
            sd,
            raw_ns,
            bird,
            bird_established,
        }
    }

    /// Ok while BIRD's session and route are as they were when the suite started.
    fn bird_undisturbed(&self) -> Result<(), String> {
        // BIRD's own "since" time is no identity of the session: it moves by milliseconds
        // without any change. A reset shows in speakerd's count of Established transitions.
        bird_protocol_line(&self.bird)?;
        let established = established_count(&self.lab, &self.sd)?;
        if established != self.bird_established {
            return Err(format!(
                "speakerd's session with BIRD was reset: Established {established} times (was {})",
                self.bird_established
            ));
        }
        self.lab.speakerd_established(&self.sd, "198.18.1.2")?;
        if self.lab.kernel_route(&self.sd, BIRD_PREFIX).is_none() {
            return Err("BIRD's route left speakerd's kernel".into());
        }
        let changes = self.lab.log("routes");
        if let Some(line) = changes.lines().find(|l| l.contains(BIRD_PREFIX)) {
            return Err(format!("BIRD's kernel route changed: {line}"));
        }
        Ok(())
    }

    /// Runs one case with the adversary at `raw_address(i)`; panics on the first wrong
    /// observation.
    fn run(&mut self, i: usize, case: &Case) {
        let address = raw_address(i);
        let proc = format!("adversary-{}", case.name);
        let go = self.lab.dir().join(format!("{}.go", case.name));
        let go = go.to_str().unwrap().to_string();
        if !case.before {
            self.lab.write(&format!("{}.go", case.name), "");
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/wire/adversary.py");
        let started = Instant::now();
        let raw_ns = self.raw_ns.clone();
        self.lab.spawn(
            &proc,
            &raw_ns,
            "python3",
            &[
                script,
                "198.18.2.1",
                &address,
                case.name,
                "--asn",
                &RAW_AS.to_string(),
                "--go",
                &go,
            ],
            &[],
        );
        if case.before {
            wait_for(
                &format!("{}: speakerd has {BEFORE} from {address}", case.name),
                UP,
                || match self.lab.speakerd_route(&self.sd, BEFORE)? {
                    Some(r) if r["from"] == address.as_str() => Ok(()),
                    other => Err(format!("{other:?}; adversary: {}", self.lab.log(&proc))),
                },
            );
            wait_for(
                &format!("{}: {BEFORE} in speakerd's kernel", case.name),
                UP,
                || {
                    self.lab
                        .kernel_route(&self.sd, BEFORE)
                        .ok_or_else(|| format!("{:?}", self.lab.kernel_routes(&self.sd, false)))
                },
            );
            self.lab.write(&format!("{}.go", case.name), "");
        }
        let lab = &mut self.lab;
        let answer = wait_for(
            &format!("{}: the adversary's answer", case.name),
            UP,
            || {
                let log = lab.log(&proc);
                let answer = log
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("NOTIFICATION") || *l == "UP" || *l == "CLOSED");
                match answer {
                    Some(a) => Ok(a.to_string()),
                    None if lab.exited(&proc).is_some() => {
                        panic!("{}: the adversary failed:\n{log}", case.name)
                    }
                    None => Err(log),
                }
            },
        );
        eprintln!(
            "{}: {answer} after {:.1}s",
            case.name,
            started.elapsed().as_secs_f64()
        );
        match &case.expect {
            Notification(code, subcode, data) => {
                let want = format!("NOTIFICATION {code} {subcode} {data}");
                assert_eq!(answer, want.trim_end(), "{}", case.name);
                let sent = self
                    .lab
                    .metric(
                        &self.sd,
                        "bgp_peer_notifications_sent_total",
                        &[
                            &format!("peer=\"{address}\""),
                            &format!("code=\"{code}\""),
                            &format!("subcode=\"{subcode}\""),
                        ],
                    )
                    .unwrap();
                assert_eq!(sent, 1.0, "{}: NOTIFICATIONs counted", case.name);
            }
            Expect::Closed => {
                assert_eq!(answer, "CLOSED", "{}: the connection must close", case.name);
                assert!(
                    self.lab.exited("speakerd").is_none(),
                    "{}: speakerd exited",
                    case.name
                );
                assert!(
                    self.lab.speakerd_established(&self.sd, &address).is_err(),
                    "{}: the session must be down",
                    case.name
                );
            }
            Expect::NotInstalled(prefixes) => {
                assert_eq!(answer, "UP", "{}: the session must stay up", case.name);
                self.lab
                    .speakerd_established(&self.sd, &address)
                    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
                holds_for(
                    &format!("{}: {prefixes:?} stay out of the kernel", case.name),
                    Duration::from_secs(1),
                    || match prefixes
                        .iter()
                        .find(|p| self.lab.kernel_route(&self.sd, p).is_some())
                    {
                        Some(p) => Err(format!("{p} is in the kernel")),
                        None => Ok(()),
                    },
                );
                let changes = self.lab.log("routes");
                if let Some(line) = changes
                    .lines()
                    .find(|l| l.split_whitespace().any(|t| prefixes.contains(&t)))
                {
                    panic!("{}: the kernel had it: {line}", case.name);
                }
            }
            Expect::Up {
                withdrawn,
                accepted,
                discarded,
                kept,
                not_at_speakerd,
            } => {
                assert_eq!(answer, "UP", "{}: the session must stay up", case.name);
                self.lab
                    .speakerd_established(&self.sd, &address)
                    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
                for prefix in *withdrawn {
                    let route = self.lab.speakerd_route(&self.sd, prefix).unwrap();
                    assert!(
                        route.is_none(),
                        "{}: {prefix} must be treated as withdrawn: {route:?}",
                        case.name
                    );
                    assert!(
                        self.lab.kernel_route(&self.sd, prefix).is_none(),
                        "{}: {prefix} must not be in the kernel",
                        case.name
                    );
                }
                for prefix in *accepted {
                    wait_for(
                        &format!(
                            "{}: {prefix} from {address} in speakerd's kernel",
                            case.name
                        ),
                        UP,
                        || match self.lab.speakerd_route(&self.sd, prefix)? {
                            Some(r) if r["from"] == address.as_str() => self
                                .lab
                                .kernel_route(&self.sd, prefix)
                                .ok_or("not in the kernel".to_string()),
                            other => Err(format!("{other:?}")),
                        },
                    );
                    let at_bird = wait_for(
                        &format!("{}: BIRD has {prefix} from speakerd", case.name),
                        UP,
                        || self.bird.route(prefix),
                    );
                    for attribute in *discarded {
                        assert!(
                            !at_bird.contains(attribute),
                            "{}: {attribute} must have been discarded:\n{at_bird}",
                            case.name
                        );
                    }
                    if !not_at_speakerd.is_empty() {
                        let paths = self.lab.show(&self.sd, &["route", prefix]).unwrap();
                        let path = paths
                            .as_array()
                            .and_then(|a| a.iter().find(|p| p["from"] == address.as_str()))
                            .unwrap_or_else(|| {
                                panic!("{}: no path from {address}: {paths}", case.name)
                            });
                        for (field, value) in *not_at_speakerd {
                            assert_ne!(
                                path[field].to_string(),
                                *value,
                                "{}: {field} must have been discarded: {path}",
                                case.name
                            );
                        }
                    }
                    for attribute in *kept {
                        assert!(
                            at_bird.contains(attribute),
                            "{}: {attribute} must have been passed on:\n{at_bird}",
                            case.name
                        );
                    }
                }
            }
        }
        holds_for(
            &format!("{}: BIRD's session and route are undisturbed", case.name),
            Duration::from_secs(1),
            || self.bird_undisturbed(),
        );
        self.lab.stop(&proc, "KILL");
        wait_for(
            &format!("{}: the adversary's routes are gone", case.name),
            UP,
            || {
                let all = self.lab.show(&self.sd, &["routes"])?;
                match all
                    .as_array()
                    .and_then(|a| a.iter().find(|r| r["from"] == address.as_str()))
                {
                    Some(r) => Err(r.to_string()),
                    None => Ok(()),
                }
            },
        );
    }
}

/// `bgp_peer_established_total` of speakerd's session with BIRD.
fn established_count(lab: &Lab, sd: &str) -> Result<f64, String> {
    lab.metric(sd, "bgp_peer_established_total", &["peer=\"198.18.1.2\""])
}

fn bird_protocol_line(bird: &Bird) -> Result<String, String> {
    let out = bird.try_birdc(&["show", "protocols", "speakerd"])?;
    out.lines()
        .find(|l| l.starts_with("speakerd") && l.contains("Established"))
        .map(str::to_string)
        .ok_or(out)
}

/// Runs every case of `group` in one lab; fails with the list of the cases that failed (each
/// failure's message is printed as it happens).
fn run_group(name: &str, group: Group) {
    let cases: Vec<&Case> = CASES.iter().filter(|c| c.group == group).collect();
    let started = Instant::now();
    let mut suite = Suite::new(name, cases.len());
    let mut failed = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let result = catch_unwind(AssertUnwindSafe(|| suite.run(i, case)));
        if result.is_err() {
            failed.push(case.name);
        }
    }
    // Whatever the cases did, BIRD's session and route must have survived them all.
    assert!(suite.lab.exited("speakerd").is_none(), "speakerd exited");
    suite
        .bird_undisturbed()
        .unwrap_or_else(|e| panic!("after all cases: {e}"));
    eprintln!(
        "{name}: {} cases in {:.1}s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

#[test]
fn header_errors() {
    run_group("adv-header", Group::Header);
}

#[test]
fn update_errors() {
    run_group("adv-update", Group::Update);
}

#[test]
fn open_errors() {
    run_group("adv-open", Group::Open);
}
