//! One Waldur client per configured offering (offerings with the same URL and token share
//! one, and with it the bound on concurrent requests).

use std::collections::BTreeMap;

use agent_config::Config;
use agent_desired::client::{ClientError, ClientSettings, WaldurClient};
use serde_json::Value;

pub struct Clients {
    by_offering: BTreeMap<String, WaldurClient>,
    distinct: Vec<WaldurClient>,
}

impl Clients {
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        let mut by_offering = BTreeMap::new();
        let mut shared: Vec<((String, String, bool), WaldurClient)> = Vec::new();
        for o in &config.offerings {
            let key = (
                o.api_url.clone(),
                o.api_token.expose().to_string(),
                o.verify_ssl,
            );
            let client = match shared.iter().find(|(k, _)| *k == key) {
                Some((_, c)) => c.clone(),
                None => {
                    let mut settings = ClientSettings::new(&o.api_url, o.api_token.clone());
                    settings.verify_ssl = o.verify_ssl;
                    settings.timeout = config.agent.http_timeout;
                    settings.retry.attempts = config.agent.http_attempts;
                    let c = WaldurClient::new(&settings)?;
                    shared.push((key, c.clone()));
                    c
                }
            };
            by_offering.insert(o.uuid.clone(), client);
        }
        Ok(Clients {
            by_offering,
            distinct: shared.into_iter().map(|(_, c)| c).collect(),
        })
    }

    pub fn get(&self, offering_uuid: &str) -> Option<&WaldurClient> {
        self.by_offering.get(offering_uuid)
    }

    /// Sends one call on behalf of an offering.
    pub async fn call(
        &self,
        offering: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        match self.get(offering) {
            Some(c) => c.call(method, path, body).await,
            None => Err(ClientError::Decode {
                method: method.into(),
                path: path.into(),
                message: format!("the plan names offering {offering:?}, which is not configured"),
            }),
        }
    }

    /// HTTP requests sent so far, over all clients.
    pub fn request_count(&self) -> u64 {
        self.distinct.iter().map(|c| c.request_count()).sum()
    }
}
