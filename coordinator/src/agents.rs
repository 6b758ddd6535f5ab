//! The coordinator's clients of its agents, one per agent and address,
//! made when first needed (an agent that comes back at a new address gets
//! a new one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use throng_agent_api::{AgentApi, GrpcAgentClient};
use throng_engine::records::AgentRecord;
use throng_node::tls::NodeTls;

/// Clients for agents, one per (agent, address).
#[derive(Clone, Default)]
pub struct AgentClients {
    /// By agent id: the address the client was made for, and the client.
    clients: Arc<Mutex<HashMap<String, AddressedClient>>>,
    /// The cluster's token, which agents ask of every call.
    token: Option<String>,
    /// How calls to agents are encrypted (and this coordinator's certificate).
    tls: Option<NodeTls>,
}

type AddressedClient = (String, Arc<dyn AgentApi>);

impl AgentClients {
    pub fn new(token: Option<String>, tls: Option<NodeTls>) -> AgentClients {
        AgentClients {
            token,
            tls,
            ..AgentClients::default()
        }
    }

    /// Uses `client` for the agent `record` names, while its address stays
    /// the same (an agent in the same process, or a test's).
    pub fn insert(&self, record: &AgentRecord, client: Arc<dyn AgentApi>) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.insert(record.agent_id.clone(), (record.address.clone(), client));
    }

    pub fn get(&self, record: &AgentRecord) -> Option<Arc<dyn AgentApi>> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((address, client)) = clients.get(&record.agent_id)
            && *address == record.address
        {
            return Some(client.clone());
        }
        let client: Arc<dyn AgentApi> =
            Arc::new(GrpcAgentClient::new(&record.address, self.token.clone(), self.tls.as_ref()).ok()?);
        clients.insert(record.agent_id.clone(), (record.address.clone(), client.clone()));
        Some(client)
    }
}
