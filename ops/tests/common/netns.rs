//! A network namespace of a test's own, joined to the host by a veth pair,
//! so a node can be cut off from one service while it still reaches the
//! others: the partition a load generator meets when a rack loses its route
//! to the state store but not to the target.
//!
//! The host end carries two addresses: `host_ip` for the target, ClickHouse
//! and the coordinator's calls, and `store_ip` for etcd alone. A partition
//! is a blackhole route to `store_ip` inside the namespace: packets vanish,
//! as they do when a network splits, instead of being refused.

use std::process::Command;

pub struct Namespace {
    pub name: String,
    /// The host's end, as the namespace sees it.
    pub host_ip: String,
    /// The host's second address, the one etcd is reached on.
    pub store_ip: String,
    /// The namespace's own address.
    pub inner_ip: String,
    host_link: String,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run `ip` (iproute2): {e}"));
    assert!(
        output.status.success(),
        "ip {}: {} (network namespaces need root and iproute2)",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

impl Namespace {
    /// Creates the namespace and its link; `ip netns del` undoes both on drop.
    pub fn create() -> Namespace {
        Namespace::create_named("throng-test", "thr", 77)
    }

    /// Host `k` (0 to 9) of a test that runs nodes on several "machines":
    /// a namespace of its own with its own subnet, `10.{80+k}.n.0/24`.
    pub fn host(k: u8) -> Namespace {
        assert!(k < 10, "hosts are numbered 0 to 9");
        Namespace::create_named(&format!("throng-host{k}"), &format!("th{k}"), 80 + k)
    }

    fn create_named(prefix: &str, link_prefix: &str, subnet: u8) -> Namespace {
        // One subnet per test process, so a run never meets another's leftovers.
        let n = std::process::id() % 200 + 20;
        let name = format!("{prefix}-{n}");
        let host_link = format!("{link_prefix}{n}h");
        let inner_link = format!("{link_prefix}{n}n");
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &host_link]).output();
        let namespace = Namespace {
            name: name.clone(),
            host_ip: format!("10.{subnet}.{n}.1"),
            store_ip: format!("10.{subnet}.{n}.3"),
            inner_ip: format!("10.{subnet}.{n}.2"),
            host_link: host_link.clone(),
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "link",
            "add",
            &host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner_link,
            "netns",
            &name,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", namespace.host_ip),
            "dev",
            &host_link,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", namespace.store_ip),
            "dev",
            &host_link,
        ]);
        ip(&["link", "set", &host_link, "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{}/24", namespace.inner_ip),
            "dev",
            &inner_link,
        ]);
        ip(&["-n", &name, "link", "set", &inner_link, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        namespace
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`
    /// execs it, so the child's pid is the program's).
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Sends whatever is not on the namespace's own link through the host,
    /// so it reaches every address the host has (another host's link too),
    /// as machines on one network reach each other.
    pub fn route_through_host(&self) {
        ip(&["-n", &self.name, "route", "add", "default", "via", &self.host_ip]);
    }

    /// Takes the link down: the machine drops off the network (its
    /// processes go on running, unreachable and unable to reach anyone).
    pub fn unplug(&self) {
        ip(&["link", "set", &self.host_link, "down"]);
    }

    /// Cuts the namespace off from `store_ip`: packets to it are dropped.
    pub fn cut_off_store(&self) {
        ip(&[
            "-n",
            &self.name,
            "route",
            "add",
            "blackhole",
            &format!("{}/32", self.store_ip),
        ]);
    }

    /// Heals the partition.
    pub fn reconnect_store(&self) {
        ip(&[
            "-n",
            &self.name,
            "route",
            "del",
            "blackhole",
            &format!("{}/32", self.store_ip),
        ]);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
        let _ = Command::new("ip").args(["link", "del", &self.host_link]).output();
    }
}
