//! Where an HTTP tool's requests may go. The origin of its URL is fixed by the team file (an
//! argument fills only the path and the query); on top of that:
//!
//! - a host name is resolved, and its internal addresses ([`super::address`]) are dropped unless
//!   the name is in the tool's `allow_hosts`, so a public-looking name that points inside (by
//!   mistake or by a rebinding DNS server) is not reached. A host written as an IP address is
//!   not resolved: the team file chose that very address, so it is reached whatever it is.
//! - a redirect is followed only within the origin of the tool's URL, or to a host in
//!   `allow_hosts`; any other ends the call with an error the model reads.

use super::{address, host, Host};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};
use reqwest::Url;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// How many redirects one call follows at most (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// The hosts of a tool's `allow_hosts`: names in lower case, and IP addresses.
#[derive(Debug, Default)]
pub(crate) struct AllowHosts {
    names: Vec<String>,
    addresses: Vec<IpAddr>,
}

impl AllowHosts {
    /// The hosts `entries` name; the error says which entry is not a bare host name or IP
    /// address and what to write instead.
    pub(crate) fn new(entries: &[String]) -> Result<Self, String> {
        let mut hosts = AllowHosts::default();
        for entry in entries {
            match host(entry) {
                Some(Host::Address(ip)) => hosts.addresses.push(ip),
                Some(Host::Name(name)) => hosts.names.push(name),
                None => {
                    return Err(format!(
                        "'{entry}' is not a host: write a host name or an IP address alone, without scheme, port \
                         or path, e.g. \"api.example.com\" or \"10.0.0.5\""
                    ))
                }
            }
        }
        Ok(hosts)
    }

    /// Whether the host of `url` is listed.
    fn has_host_of(&self, url: &Url) -> bool {
        url.host_str().and_then(host).is_some_and(|host| match host {
            Host::Address(ip) => self.addresses.contains(&ip),
            Host::Name(name) => self.names.contains(&name),
        })
    }

    /// Whether the host name `name` is listed.
    fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|listed| listed.eq_ignore_ascii_case(name))
    }
}

/// Why a request was not sent where it would have gone; its message is the model's whole error
/// result (without the leading "error: ").
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(String);

/// The resolver of an HTTP tool: resolves with `inner`, then drops the internal addresses of
/// names that are not in `allow_hosts`.
pub(crate) struct Guard {
    /// The tool, for messages.
    pub(crate) tool: String,
    pub(crate) allow: Arc<AllowHosts>,
    pub(crate) inner: Arc<dyn Resolve>,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let lookup = self.inner.resolve(name);
        if self.allow.has_name(&host) {
            return lookup;
        }
        let tool = self.tool.clone();
        Box::pin(async move {
            let (public, internal): (Vec<SocketAddr>, Vec<SocketAddr>) =
                lookup.await?.partition(|addr| address::internal(addr.ip()).is_none());
            match internal.first() {
                Some(refused) if public.is_empty() => {
                    let kind = address::internal(refused.ip()).unwrap_or("an internal address");
                    Err(Box::new(Refused(format!(
                        "'{tool}' did not connect to {host}: it resolves to {}, {kind}, and an HTTP tool reaches \
                         such addresses only for the hosts in its allow_hosts; tell the user the tool cannot be used \
                         now (if {host} is meant to be internal, the team file can add allow_hosts = [\"{host}\"] to \
                         tool '{tool}')",
                        refused.ip()
                    ))) as _)
                }
                _ => Ok(Box::new(public.into_iter()) as Addrs),
            }
        })
    }
}

/// The system's resolver (`getaddrinfo`), as reqwest uses by default.
pub(crate) struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The redirect policy of tool `tool`: at most [`MAX_REDIRECTS`], each to the origin of the
/// call's URL or to a host in `allow`.
pub(crate) fn redirects(tool: String, allow: Arc<AllowHosts>) -> Policy {
    let limit = Policy::limited(MAX_REDIRECTS);
    Policy::custom(move |attempt: Attempt<'_>| {
        let to = attempt.url();
        let Some(from) = attempt.previous().first() else { return limit.redirect(attempt) };
        if from.origin() == to.origin() || allow.has_host_of(to) {
            return limit.redirect(attempt);
        }
        let (from, to_origin) = (from.origin().ascii_serialization(), to.origin().ascii_serialization());
        let host = to.host_str().unwrap_or_default().to_string();
        attempt.error(Refused(format!(
            "'{tool}' was redirected from {from} to {to_origin}, another origin, and an HTTP tool follows redirects \
             only within an origin or to the hosts in its allow_hosts; tell the user the tool cannot be used now (if \
             {host} is to be trusted, the team file can add allow_hosts = [\"{host}\"] to tool '{tool}')"
        )))
    })
}
