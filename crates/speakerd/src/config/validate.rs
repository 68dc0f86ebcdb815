//! Validation: the raw configuration into the typed model of [`super`], every error with file,
//! line and reason; `${VAR}` interpolation; the parsers of families, communities and prefix
//! matches.

use super::raw::*;
use super::*;

/// Turns byte offsets into errors with line numbers.
pub(super) struct Locator<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
}

impl Locator<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    pub(super) fn error<T>(&self, spanned: &Spanned<T>, kind: ConfigErrorKind) -> ConfigError {
        self.at(spanned.span().start, kind)
    }

    pub(super) fn at(&self, offset: usize, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: self.line_of(offset),
            kind,
        }
    }

    pub(super) fn parse<T: FromStr>(
        &self,
        value: &Spanned<String>,
        kind: fn(String) -> ConfigErrorKind,
    ) -> Result<T, ConfigError> {
        self.parse_by(value, |text| text.trim().parse().ok(), kind)
    }

    pub(super) fn parse_by<T>(
        &self,
        value: &Spanned<String>,
        parse: impl Fn(&str) -> Option<T>,
        kind: fn(String) -> ConfigErrorKind,
    ) -> Result<T, ConfigError> {
        parse(value.get_ref()).ok_or_else(|| self.error(value, kind(value.get_ref().clone())))
    }
}

/// Replaces `${VAR}` with the environment's value; an unset variable is an error at its line.
pub(super) fn interpolate(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut consumed = 0;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match env(name) {
            Some(value) => out.push_str(&value),
            None => {
                let locator = Locator { file, text };
                return Err(locator.at(
                    consumed + start,
                    ConfigErrorKind::MissingVariable(name.to_string()),
                ));
            }
        }
        consumed += start + len + 1;
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a family name.
pub fn parse_family(name: &str) -> Option<Family> {
    match name {
        "ipv4-unicast" | "ipv4" => Some(Family::IPV4_UNICAST),
        "ipv6-unicast" | "ipv6" => Some(Family::IPV6_UNICAST),
        _ => None,
    }
}

/// Parses `ASN:VALUE` or a well-known community name.
pub fn parse_community(text: &str) -> Option<Community> {
    let named = [
        Community::NO_EXPORT,
        Community::NO_ADVERTISE,
        Community::NO_EXPORT_SUBCONFED,
        Community::GRACEFUL_SHUTDOWN,
        Community::BLACKHOLE,
        Community::LLGR_STALE,
        Community::NO_LLGR,
    ];
    if let Some(c) = named
        .into_iter()
        .find(|c| c.well_known_name() == Some(text))
    {
        return Some(c);
    }
    let (asn, value) = text.split_once(':')?;
    Some(Community::new(asn.parse().ok()?, value.parse().ok()?))
}

/// Parses `GLOBAL:LOCAL1:LOCAL2`.
pub fn parse_large_community(text: &str) -> Option<LargeCommunity> {
    let mut parts = text.split(':').map(|p| p.parse::<u32>());
    let c = LargeCommunity {
        global_admin: parts.next()?.ok()?,
        local_data1: parts.next()?.ok()?,
        local_data2: parts.next()?.ok()?,
    };
    parts.next().is_none().then_some(c)
}

/// Parses `PREFIX [ge N] [le N]`.
pub fn parse_prefix_match(text: &str) -> Option<PrefixMatch> {
    let mut words = text.split_whitespace();
    let prefix: Prefix = words.next()?.parse().ok()?;
    let (mut ge, mut le) = (None, None);
    while let Some(word) = words.next() {
        let value: u8 = words.next()?.parse().ok()?;
        match word {
            "ge" => ge = Some(value),
            "le" => le = Some(value),
            _ => return None,
        }
    }
    Some(PrefixMatch { prefix, ge, le })
}

pub(super) fn collect<T>(
    errors: &mut Vec<ConfigError>,
    result: Result<T, ConfigError>,
) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

pub(super) fn validate(
    raw: RawConfig,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let router_id = collect(
        errors,
        l.parse::<Ipv4Addr>(&raw.global.router_id, ConfigErrorKind::RouterId),
    );
    let cluster_id = raw
        .global
        .cluster_id
        .as_ref()
        .and_then(|c| collect(errors, l.parse::<Ipv4Addr>(c, ConfigErrorKind::RouterId)));
    let listen = match &raw.global.listen {
        Some(list) => list
            .iter()
            .filter_map(|a| {
                collect(
                    errors,
                    l.parse::<SocketAddr>(a, ConfigErrorKind::SocketAddress),
                )
            })
            .collect(),
        None => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), BGP_PORT),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), BGP_PORT),
        ],
    };
    let admin_listen = match &raw.admin.listen {
        Some(a) => collect(
            errors,
            l.parse::<SocketAddr>(a, ConfigErrorKind::SocketAddress),
        ),
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9179))),
    };
    let protected_prefixes = raw
        .kernel
        .protected_prefixes
        .iter()
        .filter_map(|p| collect(errors, l.parse::<Prefix>(p, ConfigErrorKind::Prefix)))
        .collect();

    let mut policies: HashMap<String, Arc<Policy>> = HashMap::new();
    policies.insert(
        "accept-all".into(),
        Arc::new(Policy::accept_all("accept-all")),
    );
    policies.insert(
        "reject-all".into(),
        Arc::new(Policy {
            name: "reject-all".into(),
            terms: Vec::new(),
        }),
    );
    for raw_policy in &raw.policies {
        let terms = raw_policy
            .terms
            .iter()
            .filter_map(|t| build_term(t, l, errors))
            .collect();
        policies.insert(
            raw_policy.name.clone(),
            Arc::new(Policy {
                name: raw_policy.name.clone(),
                terms,
            }),
        );
    }

    let mut neighbors: Vec<NeighborConfig> = Vec::new();
    for table in &raw.neighbors {
        let n = table.get_ref();
        let (Some(given), Some(remote_asn)) = (&n.address, n.remote_asn) else {
            let missing = if n.address.is_none() {
                "address"
            } else {
                "remote_asn"
            };
            errors.push(l.error(table, ConfigErrorKind::Missing(missing)));
            continue;
        };
        let Some(address) = collect(errors, l.parse::<IpAddr>(given, ConfigErrorKind::Address))
        else {
            continue;
        };
        if neighbors.iter().any(|other| other.address == address) {
            errors.push(l.error(given, ConfigErrorKind::DuplicateNeighbor(address)));
            continue;
        }
        if let Some(config) = build_neighbor(address, remote_asn, n, &policies, l, errors) {
            if let Some(error) = super::message_log::shared(&config, &neighbors, table, l) {
                errors.push(error);
                continue;
            }
            neighbors.push(config);
        }
    }
    let mut dynamic_neighbors = Vec::new();
    for table in &raw.dynamic_neighbors {
        let d = table.get_ref();
        let (Some(given), Some(remote_asn)) = (&d.range, d.remote_asn) else {
            let missing = if d.range.is_none() {
                "range"
            } else {
                "remote_asn"
            };
            errors.push(l.error(table, ConfigErrorKind::Missing(missing)));
            continue;
        };
        let Some(range) = collect(errors, l.parse::<Prefix>(given, ConfigErrorKind::Prefix)) else {
            continue;
        };
        if d.message_log.is_some() {
            errors.push(super::message_log::in_dynamic(table, l));
            continue;
        }
        if let Some(template) = build_neighbor(range.addr(), remote_asn, d, &policies, l, errors) {
            dynamic_neighbors.push(DynamicNeighborConfig { range, template });
        }
    }
    let prefixes = raw
        .prefixes
        .iter()
        .filter_map(|p| {
            let prefix = collect(
                errors,
                l.parse::<Prefix>(&p.prefix, ConfigErrorKind::Prefix),
            )?;
            let communities = p
                .communities
                .iter()
                .filter_map(|c| {
                    collect(
                        errors,
                        l.parse_by(c, parse_community, ConfigErrorKind::Community),
                    )
                })
                .collect();
            let large_communities = p
                .large_communities
                .iter()
                .filter_map(|c| {
                    collect(
                        errors,
                        l.parse_by(c, parse_large_community, ConfigErrorKind::LargeCommunity),
                    )
                })
                .collect();
            Some(OriginateConfig {
                prefix,
                communities,
                large_communities,
            })
        })
        .collect();

    let kubernetes = raw
        .kubernetes
        .as_ref()
        .and_then(|k| build_kubernetes(k, raw.global.asn, &policies, l, errors));
    let kernel = KernelConfig {
        install: raw.kernel.install.unwrap_or(true),
        table: raw.kernel.table.unwrap_or(254),
        protocol: raw.kernel.protocol.unwrap_or(DEFAULT_ROUTE_PROTOCOL),
        nexthop_objects: raw.kernel.nexthop_objects.unwrap_or(true),
        mtu: bounded(
            &raw.kernel.mtu,
            1280..=65535,
            ConfigErrorKind::RouteMtu,
            l,
            errors,
        ),
        advmss: bounded(
            &raw.kernel.advmss,
            536..=65495,
            ConfigErrorKind::Advmss,
            l,
            errors,
        ),
    };
    let ecmp = EcmpConfig {
        max_paths: raw.kernel.ecmp_max_paths.unwrap_or(8),
        ibgp_multipath: raw.kernel.ecmp_ibgp,
        as_path_relax: raw.kernel.ecmp_as_path_relax,
    };
    Some(Config {
        asn: raw.global.asn,
        router_id: router_id?,
        cluster_id,
        listen,
        admin_listen: admin_listen?,
        kernel,
        ecmp,
        protected_prefixes,
        neighbors,
        dynamic_neighbors,
        prefixes,
        kubernetes,
        shutdown_drain: ShutdownDrain {
            seconds: raw.global.shutdown_drain_seconds,
            prepend: raw.global.shutdown_drain_prepend.unwrap_or(3),
        },
        bmp: super::bmp::build_bmp(&raw.bmp, l, errors),
    })
}

pub(super) fn policy_chain(
    names: &[Spanned<String>],
    policies: &HashMap<String, Arc<Policy>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Arc<Policy>> {
    names
        .iter()
        .filter_map(|name| match policies.get(name.get_ref()) {
            Some(p) => Some(Arc::clone(p)),
            None => {
                errors.push(l.error(name, ConfigErrorKind::UnknownPolicy(name.get_ref().clone())));
                None
            }
        })
        .collect()
}

/// An optional address key: `Some(None)` when it is absent, `None` (the error recorded) when it
/// does not parse as a `T`.
pub(super) fn optional_address<T: FromStr>(
    value: &Option<Spanned<String>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<T>> {
    match value {
        Some(a) => collect(errors, l.parse::<T>(a, ConfigErrorKind::Address)).map(Some),
        None => Some(None),
    }
}

pub(super) fn build_neighbor(
    address: IpAddr,
    remote_asn: u32,
    s: &RawNeighbor,
    policies: &HashMap<String, Arc<Policy>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<NeighborConfig> {
    let local_address = optional_address::<IpAddr>(&s.local_address, l, errors)?;
    let next_hop_ipv4 = optional_address::<Ipv4Addr>(&s.next_hop_ipv4, l, errors)?;
    let next_hop_ipv6 = optional_address::<Ipv6Addr>(&s.next_hop_ipv6, l, errors)?;
    let hold_time = match &s.hold_time {
        Some(h) if matches!(*h.get_ref(), 1 | 2) => {
            errors.push(l.error(h, ConfigErrorKind::HoldTime(*h.get_ref())));
            return None;
        }
        Some(h) => *h.get_ref(),
        None => 90,
    };
    let send_hold_time = match &s.send_hold_time {
        Some(t) if *t.get_ref() == 0 => {
            errors.push(l.error(t, ConfigErrorKind::SendHoldTime));
            return None;
        }
        t => t.as_ref().map(|t| Duration::from_secs(*t.get_ref())),
    };
    let families = match &s.families {
        Some(list) => list
            .iter()
            .filter_map(|f| collect(errors, l.parse_by(f, parse_family, ConfigErrorKind::Family)))
            .collect(),
        None => vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
    };
    let max_prefix = s
        .max_prefix
        .iter()
        .filter_map(|m| {
            let family = collect(
                errors,
                l.parse_by(&m.family, parse_family, ConfigErrorKind::Family),
            )?;
            Some(rib::MaxPrefix {
                family,
                limit: m.limit,
                warning_percent: m.warning_percent,
            })
        })
        .collect();
    let add_path_send = match &s.add_path_send {
        None => 0,
        Some(value) => match value.get_ref() {
            RawPathCount::Word(w) if w == "all" => rib::ADD_PATH_ALL,
            RawPathCount::Count(n @ 2..=255) => *n as usize,
            RawPathCount::Count(n) => {
                errors.push(l.error(value, ConfigErrorKind::AddPathSend(n.to_string())));
                return None;
            }
            RawPathCount::Word(w) => {
                errors.push(l.error(value, ConfigErrorKind::AddPathSend(w.clone())));
                return None;
            }
        },
    };
    if let Some(ao) = &s.tcp_ao {
        errors.push(super::tcp_ao::refusal(
            ao,
            s.password_file.is_some() || s.password_env.is_some(),
            l,
        ));
        return None;
    }
    let password = match (&s.password_file, &s.password_env) {
        (Some(file), _) => Some(collect(
            errors,
            std::fs::read_to_string(file.get_ref())
                .map(|p| p.trim_end().to_string())
                .map_err(|e| {
                    l.error(
                        file,
                        ConfigErrorKind::Password(format!("{}: {e}", file.get_ref())),
                    )
                }),
        )?),
        (None, Some(var)) => Some(collect(
            errors,
            std::env::var(var.get_ref())
                .map_err(|_| l.error(var, ConfigErrorKind::MissingVariable(var.get_ref().clone()))),
        )?),
        (None, None) => None,
    };
    Some(NeighborConfig {
        address,
        remote_asn,
        port: s.port.unwrap_or(BGP_PORT),
        passive: s.passive,
        local_address,
        next_hop_ipv4,
        next_hop_ipv6,
        hold_time,
        keepalive_time: s.keepalive_time,
        send_hold_time,
        connect_retry_time: Duration::from_secs(s.connect_retry_time.unwrap_or(30)),
        families,
        import: policy_chain(&s.import, policies, l, errors),
        export: policy_chain(&s.export, policies, l, errors),
        description: s.description.clone(),
        rr_client: s.rr_client,
        next_hop_self: s.next_hop_self,
        graceful_restart: s
            .graceful_restart
            .as_ref()
            .and_then(|g| graceful_restart_settings(g, l, errors)),
        bfd: s
            .bfd
            .as_ref()
            .and_then(|b| bfd_settings(b, local_address, l, errors)),
        max_prefix,
        multihop_ttl: s.multihop_ttl,
        ttl_security: s.ttl_security,
        password,
        allow_own_as: s.allow_own_as,
        soft_reconfiguration_inbound: s.soft_reconfiguration_inbound,
        add_path_send,
        message_log: s
            .message_log
            .as_ref()
            .and_then(|m| super::message_log::build(m, l, errors)),
    })
}

/// A neighbour's `bfd` table: intervals of 10 ms to 60 s, a non-zero multiplier.
/// The value of an optional key when it is in `range`; else an error `kind(value)` at the key.
fn bounded(
    value: &Option<Spanned<u32>>,
    range: std::ops::RangeInclusive<u32>,
    kind: fn(u32) -> ConfigErrorKind,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<u32> {
    let v = value.as_ref()?;
    if range.contains(v.get_ref()) {
        Some(*v.get_ref())
    } else {
        errors.push(l.error(v, kind(*v.get_ref())));
        None
    }
}

fn graceful_restart_settings(
    g: &RawGracefulRestart,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<GracefulRestartSettings> {
    let restart_time = *g.restart_time.get_ref();
    if restart_time > 0x0fff {
        errors.push(l.error(&g.restart_time, ConfigErrorKind::RestartTime(restart_time)));
        return None;
    }
    let long_lived_stale_time = match &g.long_lived_stale_time {
        Some(t) if !(1..=0x00ff_ffff).contains(t.get_ref()) => {
            errors.push(l.error(t, ConfigErrorKind::LongLivedStaleTime(*t.get_ref())));
            return None;
        }
        t => t.as_ref().map(|t| *t.get_ref()),
    };
    Some(GracefulRestartSettings {
        restart_time,
        long_lived_stale_time,
    })
}

fn bfd_settings(
    b: &RawBfd,
    local_address: Option<IpAddr>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<BfdSettings> {
    let interval = |v: &Spanned<u64>, errors: &mut Vec<ConfigError>| {
        let ms = *v.get_ref();
        if (10..=60_000).contains(&ms) {
            Some(Duration::from_millis(ms))
        } else {
            errors.push(l.error(v, ConfigErrorKind::BfdInterval(ms)));
            None
        }
    };
    let min_rx = interval(&b.min_rx, errors);
    let min_tx = interval(&b.min_tx, errors);
    if *b.multiplier.get_ref() == 0 {
        errors.push(l.error(&b.multiplier, ConfigErrorKind::BfdMultiplier));
        return None;
    }
    let strict = b.strict.as_ref().is_some_and(|s| *s.get_ref());
    if strict && local_address.is_none() {
        if let Some(s) = &b.strict {
            errors.push(l.error(s, ConfigErrorKind::BfdStrictWithoutLocalAddress));
        }
        return None;
    }
    Some(BfdSettings {
        min_rx: min_rx?,
        min_tx: min_tx?,
        multiplier: *b.multiplier.get_ref(),
        strict,
    })
}

pub(super) fn build_kubernetes(
    table: &Spanned<RawKubernetes>,
    local_as: u32,
    policies: &HashMap<String, Arc<Policy>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<KubernetesConfig> {
    let k = table.get_ref();
    let mode = match k.mode.as_ref().map(|m| m.get_ref().as_str()) {
        None | Some("tor") => PeeringMode::Tor,
        Some("mesh") => PeeringMode::Mesh,
        Some("route-reflector") => PeeringMode::RouteReflector,
        Some(other) => {
            let at = k.mode.as_ref().map_or_else(
                || l.error(table, ConfigErrorKind::Missing("mode")),
                |m| l.error(m, ConfigErrorKind::Mode(other.to_string())),
            );
            errors.push(at);
            return None;
        }
    };
    let prefixes = |list: &[Spanned<String>], errors: &mut Vec<ConfigError>| -> Vec<Prefix> {
        list.iter()
            .filter_map(|p| collect(errors, l.parse::<Prefix>(p, ConfigErrorKind::Prefix)))
            .collect()
    };
    let allowed_prefixes = prefixes(&k.allowed_prefixes, errors);
    let service_cidrs = prefixes(&k.service_cidrs, errors);
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let peer = match &k.peer {
        Some(p) => build_neighbor(unspecified, local_as, p.get_ref(), policies, l, errors)?,
        None => {
            let empty: RawNeighbor = toml::from_str("").ok()?;
            build_neighbor(unspecified, local_as, &empty, policies, l, errors)?
        }
    };
    let mut tors = Vec::new();
    for spanned in &k.tors {
        let t = spanned.get_ref();
        let selector = match (&t.node_label, &t.node_selector) {
            (Some(label), None) => {
                let Some((key, value)) = label.get_ref().split_once('=') else {
                    errors.push(l.error(label, ConfigErrorKind::Label(label.get_ref().clone())));
                    continue;
                };
                NodeSelector {
                    match_labels: BTreeMap::from([(key.to_string(), value.to_string())]),
                    requirements: Vec::new(),
                }
            }
            (None, Some(selector)) => match node_selector(selector, spanned, l, errors) {
                Some(s) => s,
                None => continue,
            },
            _ => {
                errors.push(l.error(spanned, ConfigErrorKind::TorSelector));
                continue;
            }
        };
        let Some(address) = collect(
            errors,
            l.parse::<IpAddr>(&t.address, ConfigErrorKind::Address),
        ) else {
            continue;
        };
        tors.push(TorRule {
            selector,
            address,
            remote_asn: t.remote_asn,
        });
    }
    let pod_cidr_communities = k
        .pod_cidr_communities
        .iter()
        .filter_map(|c| {
            collect(
                errors,
                l.parse_by(c, parse_community, ConfigErrorKind::Community),
            )
        })
        .collect();
    let pod_cidr_large_communities = k
        .pod_cidr_large_communities
        .iter()
        .filter_map(|c| {
            collect(
                errors,
                l.parse_by(c, parse_large_community, ConfigErrorKind::LargeCommunity),
            )
        })
        .collect();
    Some(KubernetesConfig {
        node_name: k.node_name.get_ref().clone(),
        kubeconfig: k.kubeconfig.clone(),
        mode,
        allowed_prefixes,
        service_cidrs,
        drain_taint: k.drain_taint.clone(),
        drain_seconds: k.drain_seconds.unwrap_or(30),
        drain_prepend: k.drain_prepend.unwrap_or(3),
        reflector_label: k
            .reflector_label
            .clone()
            .unwrap_or_else(|| "bgp.speakerd.io/route-reflector".into()),
        peer,
        tors,
        services: k.services.as_ref().and_then(|raw| {
            let empty = RawSelector::default();
            let selector =
                node_selector(raw.selector.as_ref().unwrap_or(&empty), table, l, errors)?;
            Some(ServiceAdvertisement {
                selector,
                load_balancer_ips: raw.load_balancer_ips,
                external_ips: raw.external_ips,
            })
        }),
        custom_resources: k.custom_resources,
        pod_cidr_communities,
        pod_cidr_large_communities,
    })
}

/// A label selector of the TOML (the same semantics as the Kubernetes API's).
fn node_selector<T>(
    raw: &RawSelector,
    at: &Spanned<T>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<NodeSelector> {
    let mut requirements = Vec::new();
    for r in &raw.match_expressions {
        let key = r.key.clone();
        requirements.push(match r.operator.as_str() {
            "In" => SelectorRequirement::In(key, r.values.clone()),
            "NotIn" => SelectorRequirement::NotIn(key, r.values.clone()),
            "Exists" => SelectorRequirement::Exists(key),
            "DoesNotExist" => SelectorRequirement::DoesNotExist(key),
            other => {
                let kind = ConfigErrorKind::SelectorOperator(other.to_string());
                errors.push(l.error(at, kind));
                return None;
            }
        });
    }
    Some(NodeSelector {
        match_labels: raw.match_labels.clone(),
        requirements,
    })
}

pub(super) fn build_term(
    t: &RawTerm,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Term> {
    let mut matches = Vec::new();
    if !t.prefixes.is_empty() {
        let list = t
            .prefixes
            .iter()
            .filter_map(|p| {
                collect(
                    errors,
                    l.parse_by(p, parse_prefix_match, ConfigErrorKind::Prefix),
                )
            })
            .collect();
        matches.push(Match::PrefixList(list));
    }
    if let Some(f) = &t.family {
        let family = collect(errors, l.parse_by(f, parse_family, ConfigErrorKind::Family))?;
        matches.push(Match::Family(family));
    }
    for c in &t.communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_community, ConfigErrorKind::Community),
        )?;
        matches.push(Match::Community(community));
    }
    for c in &t.large_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_large_community, ConfigErrorKind::LargeCommunity),
        )?;
        matches.push(Match::LargeCommunity(community));
    }
    if let Some(asn) = t.as_path_contains {
        matches.push(Match::AsPathContains(asn));
    }
    if let Some(max) = t.as_path_max_length {
        matches.push(Match::AsPathLength { min: 0, max });
    }
    if let Some(asn) = t.origin_as {
        matches.push(Match::OriginAs(asn));
    }
    if let Some(p) = &t.next_hop_in {
        matches.push(Match::NextHop(collect(
            errors,
            l.parse::<Prefix>(p, ConfigErrorKind::Prefix),
        )?));
    }
    if let Some(a) = &t.neighbor {
        matches.push(Match::Neighbor(collect(
            errors,
            l.parse::<IpAddr>(a, ConfigErrorKind::Address),
        )?));
    }
    let mut actions = Vec::new();
    if let Some(v) = t.set_local_pref {
        actions.push(SetAction::LocalPref(v));
    }
    if let Some(v) = t.set_med {
        actions.push(SetAction::Med(v));
    }
    if let Some(a) = &t.set_next_hop {
        actions.push(SetAction::NextHop(collect(
            errors,
            l.parse::<IpAddr>(a, ConfigErrorKind::Address),
        )?));
    }
    for c in &t.add_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_community, ConfigErrorKind::Community),
        )?;
        actions.push(SetAction::AddCommunity(community));
    }
    for c in &t.remove_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_community, ConfigErrorKind::Community),
        )?;
        actions.push(SetAction::RemoveCommunity(community));
    }
    for c in &t.add_large_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_large_community, ConfigErrorKind::LargeCommunity),
        )?;
        actions.push(SetAction::AddLargeCommunity(community));
    }
    if let Some(count) = t.prepend {
        actions.push(SetAction::Prepend { asn: None, count });
    }
    let verdict = match t.then.get_ref().as_str() {
        "accept" => Verdict::Accept,
        "reject" => Verdict::Reject,
        "next" => Verdict::Next,
        other => {
            errors.push(l.error(&t.then, ConfigErrorKind::Verdict(other.to_string())));
            return None;
        }
    };
    Some(Term {
        name: t.name.clone(),
        matches,
        actions,
        verdict,
        allow_protected: t.allow_protected,
    })
}
