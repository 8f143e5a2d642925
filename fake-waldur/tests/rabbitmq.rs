//! Event queue registration and publishing against a real RabbitMQ (what
//! `scripts/rabbitmq/start-rabbitmq.sh` starts; `scripts/test.sh` sources its env.sh).
//! Without `RABBITMQ_MGMT_URL`, `RABBITMQ_MGMT_USER` and `RABBITMQ_MGMT_PASSWORD` these
//! tests skip with a message — except under `CI=true`, where they fail.
//! Each test has a staff user of its own, hence a vhost of its own, deleted at the end.

mod support;

use fake_waldur::broker::{queue_arguments, segment};
use fake_waldur::{
    demo, demo_seed, ids, Broker, DeliveryStatus, Management, NewEvent, RunningFake,
};
use serde_json::{json, Value};
use std::time::Duration;
use support::stomp::Stomp;
use support::{keys, set, start, Client};

const IDS: &str = "/api/marketplace-site-agent-identities/";
const WAIT: Duration = Duration::from_secs(10);

fn broker() -> Option<Broker> {
    if let Some(b) = Broker::from_env() {
        return Some(b);
    }
    let msg = "RABBITMQ_MGMT_URL, RABBITMQ_MGMT_USER and RABBITMQ_MGMT_PASSWORD are not set \
               (start a broker with scripts/rabbitmq/start-rabbitmq.sh and source its env.sh)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but {msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

fn stomp_port() -> u16 {
    std::env::var("RABBITMQ_STOMP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(61613)
}

struct Setup {
    fake: RunningFake,
    staff: Client,
    broker: Broker,
    mgmt: Management,
    /// The staff user's UUID: the vhost of everything it registers.
    vhost: String,
}

impl Setup {
    /// A fake using the broker, or `None` (skip) without one.
    async fn new() -> Option<Setup> {
        let broker = broker()?;
        let vhost = ids::new_uuid();
        let mut seed = demo_seed();
        seed.users[0].uuid = vhost.clone(); // the staff user (nothing in the seed refers to it)
        let (fake, staff) = start(seed).await;
        fake.state.set_broker(Some(broker.clone()));
        let mgmt = Management::new(&broker).expect("management client");
        Some(Setup {
            fake,
            staff,
            broker,
            mgmt,
            vhost,
        })
    }

    /// A new identity and its unified queue: (identity, RabbitMQ user, queue name).
    async fn with_queue(&self, name: &str, types: Value) -> (String, String, String) {
        let identity = self.identity(name).await;
        let (status, answer) = self.register(&self.staff, &identity, types).await;
        assert_eq!(status, 201, "{answer}");
        let user = text(&answer["rmq_username"]);
        (identity, user, text(&answer["queue_name"]))
    }

    /// The first frame the broker answers a STOMP login with (`CONNECTED` or `ERROR`).
    async fn login(&self, user: &str, password: &str) -> String {
        let (_session, frame) = Stomp::connect(stomp_port(), &self.vhost, user, password).await;
        frame.command
    }

    async fn identity(&self, name: &str) -> String {
        let body = json!({"offering": demo::OFFERING, "name": name, "version": "0.1.0"});
        let r = self.staff.post(IDS, Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["uuid"].as_str().unwrap().to_string()
    }

    async fn register(&self, client: &Client, identity: &str, types: Value) -> (u16, Value) {
        let path = format!("{IDS}{identity}/register_queue/");
        let r = client
            .post(&path, Some(json!({ "object_types": types })))
            .await;
        (r.status, r.json())
    }

    async fn get(&self, path: &str) -> Option<Value> {
        self.mgmt.get(path).await.expect("management API")
    }

    async fn queue(&self, name: &str) -> Option<Value> {
        let v = segment(&self.vhost);
        self.get(&format!("/api/queues/{v}/{}", segment(name)))
            .await
    }

    /// Deletes the vhost (its queues and permissions go with it) and the users.
    async fn cleanup(self, users: &[&str]) {
        let paths = users
            .iter()
            .map(|u| format!("/api/users/{}", segment(u)))
            .chain([format!("/api/vhosts/{}", segment(&self.vhost))]);
        for path in paths {
            self.mgmt.delete(&path).await.expect("cleanup");
        }
    }
}

fn text(v: &Value) -> String {
    v.as_str().expect("string").to_string()
}

#[tokio::test]
async fn register_queue_creates_the_vhost_user_permissions_and_queue() {
    let Some(s) = Setup::new().await else { return };
    let identity = s.identity(&format!("agent-{}", demo::OFFERING)).await;

    let (status, answer) = s
        .register(&s.staff, &identity, json!(["order", "user_role"]))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        keys(&answer),
        set(&[
            "rmq_username",
            "queue_name",
            "vhost",
            "observable_object_types"
        ])
    );
    let user = text(&answer["rmq_username"]);
    let queue = text(&answer["queue_name"]);
    assert_eq!(queue, format!("consumer_{user}"));
    assert_eq!(answer["vhost"], s.vhost.as_str());
    assert_eq!(
        answer["observable_object_types"],
        json!(["order", "user_role"])
    );

    let v = segment(&s.vhost);
    assert!(s.get(&format!("/api/vhosts/{v}")).await.is_some(), "vhost");
    let account = s.get(&format!("/api/users/{user}")).await.expect("user");
    assert_eq!(account["tags"], json!([]));
    let perms = s
        .get(&format!("/api/permissions/{v}/{user}"))
        .await
        .expect("permissions");
    assert_eq!(
        (
            perms["configure"].clone(),
            perms["write"].clone(),
            perms["read"].clone()
        ),
        (json!(".*"), json!(".*"), json!(".*"))
    );
    let q = s.queue(&queue).await.expect("queue");
    assert_eq!(
        (q["durable"].clone(), q["auto_delete"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(q["arguments"], queue_arguments());

    // The API token is the RabbitMQ password: a STOMP login with it works, another fails.
    assert_eq!(s.login(&user, demo::STAFF_TOKEN).await, "CONNECTED");
    assert_eq!(s.login(&user, "wrong").await, "ERROR");

    // Idempotent: 200, same names, same queue; the type list follows the last call.
    let (status, again) = s
        .register(&s.staff, &identity, json!(["order", "user_role"]))
        .await;
    assert_eq!((status, &again), (200, &answer));
    let (status, all) = s.register(&s.staff, &identity, json!([])).await;
    assert_eq!(status, 200);
    assert_eq!(all["queue_name"], queue.as_str());
    assert_eq!(all["observable_object_types"].as_array().unwrap().len(), 13);
    assert_eq!(
        s.queue(&queue).await.expect("queue")["arguments"],
        queue_arguments()
    );

    // Every call resets the password to the token presented.
    let provider = Client::new(s.fake.addr, Some(demo::PROVIDER_TOKEN));
    assert_eq!(s.register(&provider, &identity, json!([])).await.0, 200);
    assert_eq!(s.login(&user, demo::PROVIDER_TOKEN).await, "CONNECTED");
    let old = s.login(&user, demo::STAFF_TOKEN).await;
    assert_eq!(old, "ERROR", "the old token no longer logs in");

    s.cleanup(&[&user]).await;
}

#[tokio::test]
async fn an_order_message_sits_in_the_queue_and_reaches_a_stomp_subscriber() {
    let Some(s) = Setup::new().await else { return };
    let (_, user, queue) = s.with_queue("agent-orders", json!(["order"])).await;

    // Creating an order publishes {order_uuid, order_state} (+ object_type, offering_uuid).
    let order = s
        .fake
        .state
        .create_order(fake_waldur::NewOrder {
            order_type: "Create".into(),
            offering: Some(demo::OFFERING.into()),
            project: Some(demo::PROJECT.into()),
            ..Default::default()
        })
        .unwrap();
    let log = s.fake.state.wait_for_deliveries(WAIT).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, DeliveryStatus::Routed, "{:?}", log[0].error);
    let messages = s.mgmt.get_messages(&s.vhost, &queue, 10).await.unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    let payload: Value = serde_json::from_str(m["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload,
        json!({"order_uuid": order.uuid, "order_state": "pending-provider",
               "object_type": "order", "offering_uuid": demo::OFFERING})
    );
    let props = &m["properties"];
    assert_eq!(props["delivery_mode"], 2, "persistent");
    assert_eq!(props["content_type"], "application/json");
    assert_eq!(props["headers"]["x-message-id"], log[0].message_id.as_str());

    // The way the agent reads it: STOMP, /amq/queue/<name>, ack auto.
    let (mut stomp, frame) = Stomp::connect(stomp_port(), &s.vhost, &user, demo::STAFF_TOKEN).await;
    assert_eq!(frame.command, "CONNECTED");
    let destination = format!("/amq/queue/{queue}");
    let sub = [
        ("destination", destination.as_str()),
        ("id", queue.as_str()),
        ("ack", "auto"),
    ];
    stomp.send("SUBSCRIBE", &sub, "").await;
    let approve = format!(
        "/api/marketplace-orders/{}/approve_by_provider/",
        order.uuid
    );
    assert_eq!(s.staff.post(&approve, Some(json!({}))).await.status, 200);
    let frame = stomp.next(WAIT).await.expect("a MESSAGE");
    assert_eq!(frame.command, "MESSAGE", "{frame:?}");
    // RabbitMQ 3.10 names the queue `/queue/<name>` in deliveries, whichever way the message
    // was sent (a STOMP SEND to /amq/queue/<name> too; waldur-api.md §5.2 says /amq/queue/).
    let delivered_to = format!("/queue/{queue}");
    assert_eq!(frame.header("destination"), Some(delivered_to.as_str()));
    assert_eq!(frame.header("subscription"), Some(queue.as_str()));
    assert_eq!(frame.header("content-type"), Some("application/json"));
    assert_eq!(frame.header("persistent"), Some("true"));
    let last = s.fake.state.published().pop().unwrap();
    assert_eq!(frame.header("x-message-id"), Some(last.message_id.as_str()));
    let body: Value = serde_json::from_str(&frame.body).unwrap();
    assert_eq!(body["order_state"], "executing");

    // Arbitrary and malformed bodies go out verbatim.
    let sent = s
        .fake
        .state
        .publish(NewEvent {
            queue: Some(queue.clone()),
            ..NewEvent::raw(demo::OFFERING, "resource_periodic_limits", "{not json")
        })
        .unwrap();
    assert_eq!(sent.len(), 1);
    let frame = stomp.next(WAIT).await.expect("a MESSAGE");
    assert_eq!(frame.body, "{not json");

    s.cleanup(&[&user]).await;
}

#[tokio::test]
async fn the_404_switch_and_the_per_type_scheme() {
    let Some(s) = Setup::new().await else { return };
    let identity = s.identity("agent-old").await;

    s.fake.state.set_register_queue_missing(true);
    let (status, answer) = s.register(&s.staff, &identity, json!(["order"])).await;
    assert_eq!((status, answer), (404, json!({"detail": "Not found."})));
    assert!(s.fake.state.read(|w| w.data.event_consumers.is_empty()));

    // E1: one subscription per (user, object type), 201 then 200.
    let e1 = format!("{IDS}{identity}/register_event_subscription/");
    let body = json!({"observable_object_type": "order", "description": "orders of agent-old"});
    let r = s.staff.post(&e1, Some(body.clone())).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sub = r.json();
    assert_eq!(
        keys(&sub),
        set(&[
            "url",
            "uuid",
            "user",
            "user_uuid",
            "user_username",
            "user_full_name",
            "created",
            "modified",
            "source_ip",
            "description",
            "observable_objects"
        ])
    );
    assert_eq!(sub["observable_objects"], json!([{"object_type": "order"}]));
    let sub_uuid = text(&sub["uuid"]);
    let r = s.staff.post(&e1, Some(body)).await;
    assert_eq!((r.status, r.json()["uuid"].clone()), (200, json!(sub_uuid)));
    let login = s.login(&sub_uuid, demo::STAFF_TOKEN).await;
    assert_eq!(login, "CONNECTED", "the subscription's RabbitMQ user");

    // E2: the queue of (subscription, offering, object type).
    let e2 = format!("/api/event-subscriptions/{sub_uuid}/create_queue/");
    let body = json!({"offering_uuid": demo::OFFERING, "object_type": "order"});
    let r = s.staff.post(&e2, Some(body.clone())).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let q = r.json();
    assert_eq!(
        keys(&q),
        set(&[
            "url",
            "uuid",
            "event_subscription",
            "event_subscription_uuid",
            "offering_uuid",
            "object_type",
            "queue_name",
            "vhost",
            "created"
        ])
    );
    let queue = format!("subscription_{sub_uuid}_offering_{}_order", demo::OFFERING);
    assert_eq!(
        (q["queue_name"].clone(), q["vhost"].clone()),
        (json!(queue), json!(s.vhost))
    );
    let r = s.staff.post(&e2, Some(body)).await;
    assert_eq!(
        (r.status, r.json()["uuid"].clone()),
        (200, q["uuid"].clone())
    );
    assert_eq!(
        s.queue(&queue).await.expect("queue")["arguments"],
        queue_arguments()
    );

    // Publishing reaches the per-type queue.
    let r = s
        .staff
        .post(
            "/__fake__/orders",
            Some(json!({"type": "Terminate", "resource": demo::RESOURCE})),
        )
        .await;
    assert_eq!(r.status, 201);
    let log = s.fake.state.wait_for_deliveries(WAIT).await;
    assert_eq!(
        (log.len(), log[0].scheme.as_str(), log[0].status),
        (1, "per_type", DeliveryStatus::Routed)
    );
    let messages = s.mgmt.get_messages(&s.vhost, &queue, 10).await.unwrap();
    assert_eq!(messages.len(), 1);

    // E3: gone from the fake and from the broker.
    let r = s
        .staff
        .delete(&format!("/api/event-subscriptions/{sub_uuid}/"))
        .await;
    assert_eq!(r.status, 204);
    assert!(s.queue(&queue).await.is_none());
    assert!(s.get(&format!("/api/users/{sub_uuid}")).await.is_none());
    assert_eq!(
        s.staff
            .delete(&format!("/api/event-subscriptions/{sub_uuid}/"))
            .await
            .status,
        404
    );

    s.cleanup(&[]).await;
}

#[tokio::test]
async fn publishing_never_fails_the_rest_call() {
    let Some(s) = Setup::new().await else { return };
    let (identity, user, queue) = s.with_queue("agent-faults", json!([])).await;
    let flip = |paused: bool| {
        let c = Client::new(s.fake.addr, None);
        async move {
            let path = format!("/__fake__/resources/{}", demo::RESOURCE);
            assert_eq!(
                c.patch(&path, json!({ "paused": paused })).await.status,
                200
            );
        }
    };

    // The queue vanished behind Mastermind's back: the broker does not route the message.
    let v = segment(&s.vhost);
    s.mgmt
        .delete(&format!("/api/queues/{v}/{queue}"))
        .await
        .unwrap();
    flip(true).await;
    let log = s.fake.state.wait_for_deliveries(WAIT).await;
    assert_eq!(log.last().unwrap().status, DeliveryStatus::Unroutable);

    // A broker that does not answer: the change still happens, the delivery fails.
    s.fake.state.set_broker(Some(Broker::new(
        "http://127.0.0.1:1",
        &s.broker.user,
        &s.broker.password,
    )));
    flip(false).await;
    let log = s.fake.state.wait_for_deliveries(WAIT).await;
    let last = log.last().unwrap();
    assert_eq!(last.status, DeliveryStatus::Failed);
    assert!(
        last.error.as_deref().unwrap().contains("management API"),
        "{last:?}"
    );
    assert!(!s.fake.state.resource(demo::RESOURCE).unwrap().paused);

    // Registration, on the other hand, reports the broker's failure.
    let (status, answer) = s.register(&s.staff, &identity, json!([])).await;
    assert_eq!(status, 503);
    assert!(
        text(&answer["detail"]).starts_with("The event broker failed"),
        "{answer}"
    );

    s.cleanup(&[&user]).await;
}
