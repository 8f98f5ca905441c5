//! Every form of `coalesce(...)`: the fn's own group (with a capacity given as a literal or a
//! `const`), a group given as a `static`, a field, an argument or a method's answer; keys
//! read from integers, `&str`, `&String`, tuples and `self`'s fields; beside policies,
//! labels, `boxed` and a trait object.

use std::sync::{Arc, LazyLock};

use runner_core::policy::Coalesce;
use runner_core::{BoxTask, Critical, Policy, fan_out, task};

#[derive(Debug, Clone, thiserror::Error)]
#[error("no card")]
struct CardError;

#[derive(Debug, thiserror::Error)]
#[error("io")]
struct NotClone;

const CARDS_AT_ONCE: usize = 64;

#[task(best_effort, timeout = "150ms", coalesce(key = user_id))]
async fn by_id(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

// A tuple is read as it is: its borrowed parts are made owned by hand.
#[task(best_effort, coalesce(key = (region.to_owned(), user_id), capacity = CARDS_AT_ONCE))]
async fn by_region(region: &str, user_id: u64) -> Result<String, CardError> {
    Ok(format!("{region}/{user_id}"))
}

#[task(critical, coalesce(key = name, capacity = 10), label = name)]
async fn by_name(name: &String) -> Result<usize, CardError> {
    Ok(name.len())
}

// An error that is not `Clone`, shared through an `Arc`.
#[task(best_effort, retry(attempts = 2), coalesce(key = user_id))]
async fn shared_error(user_id: u64) -> Result<u64, Arc<NotClone>> {
    Ok(user_id)
}

static CARDS: LazyLock<Coalesce<u64, u64, CardError>> = LazyLock::new(Coalesce::new);

#[task(best_effort, coalesce(key = user_id, group = CARDS))]
async fn in_static(user_id: u64) -> Result<u64, CardError> {
    Ok(user_id)
}

#[task(best_effort, coalesce(key = user_id, group = cards))]
async fn in_argument(cards: &Coalesce<u64, u64, CardError>, user_id: u64) -> Result<u64, CardError> {
    let _ = cards.in_flight();
    Ok(user_id)
}

struct Client {
    id: u32,
    cards: Coalesce<u64, u64, CardError>,
    shared: Arc<Coalesce<u32, u32, CardError>>,
    policy: Policy,
}

impl Client {
    fn cards(&self) -> &Coalesce<u64, u64, CardError> {
        &self.cards
    }

    #[task(best_effort, policy = self.policy, coalesce(key = user_id, group = self.cards))]
    async fn in_field(&self, user_id: u64) -> Result<u64, CardError> {
        Ok(user_id)
    }

    #[task(best_effort, coalesce(key = user_id, group = self.cards()))]
    async fn from_method(&self, user_id: u64) -> Result<u64, CardError> {
        Ok(user_id)
    }

    #[task(best_effort, coalesce(key = self.id, group = self.shared))]
    async fn in_arc(&self) -> Result<u32, CardError> {
        Ok(self.id)
    }
}

trait Cards: Send + Sync {
    fn card(&self, user_id: u64) -> BoxTask<'_, u64, CardError, Critical>;
}

impl Cards for Client {
    #[task(critical, boxed, coalesce(key = user_id))]
    async fn card(&self, user_id: u64) -> Result<u64, CardError> {
        Ok(user_id + u64::from(self.id))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cards = Coalesce::new();
    let client = Client {
        id: 1,
        cards: Coalesce::new(),
        shared: Arc::new(Coalesce::new()),
        policy: Policy::builder().build().unwrap(),
    };
    let dyn_client: &dyn Cards = &client;
    let name = "seven".to_owned();
    let (a, b, c, d, e, f, g, h, i, j) = fan_out!(
        by_id(1),
        by_region("eu", 2),
        by_name(&name),
        shared_error(3),
        in_static(4),
        in_argument(&cards, 5),
        client.in_field(6),
        client.from_method(7),
        client.in_arc(),
        dyn_client.card(8),
    )
    .await
    .unwrap();
    assert_eq!(a.unwrap(), 1);
    assert_eq!(b.unwrap(), "eu/2");
    assert_eq!(c, 5);
    assert_eq!(d.unwrap(), 3);
    assert_eq!(e.unwrap(), 4);
    assert_eq!(f.unwrap(), 5);
    assert_eq!(g.unwrap(), 6);
    assert_eq!(h.unwrap(), 7);
    assert_eq!(i.unwrap(), 1);
    assert_eq!(j, 9);
}
