//! What is particular to the static engine, `FanOut`: polling in place, fairness, borrowing,
//! `Send`-ness that follows the tasks, and every arity up to 16.

mod support;

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use runner_core::{FanOut, Task, TaskError};
use support::{Act, Boom, Probe, ms};

/// A future that records `id` each time it is polled and is ready on its third poll.
fn recorder(id: u32, log: Rc<RefCell<Vec<u32>>>) -> impl Future<Output = Result<u32, Boom>> {
    let mut polls = 0;
    poll_fn(move |cx| {
        log.borrow_mut().push(id);
        polls += 1;
        if polls == 3 {
            Poll::Ready(Ok(id))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[tokio::test(start_paused = true)]
async fn the_first_task_polled_rotates_on_every_poll() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let slots = FanOut::new((
        Task::critical("a", recorder(0, log.clone())),
        Task::critical("b", recorder(1, log.clone())),
        Task::critical("c", recorder(2, log.clone())),
    ))
    .await
    .unwrap();
    assert_eq!(slots, (0, 1, 2));
    assert_eq!(*log.borrow(), [0, 1, 2, 1, 2, 0, 2, 0, 1]);
}

#[tokio::test(start_paused = true)]
async fn every_task_starts_on_the_first_poll() {
    let probe = Probe::new();
    let mut fan_out = pin!(FanOut::new((
        Task::critical("a", probe.task(10, Act::Ok, 1)),
        Task::best_effort("b", probe.task(20, Act::Ok, 2)),
        Task::best_effort("c", probe.task(30, Act::Ok, 3)),
    )));
    assert_eq!(probe.started(), 0, "building the fan-out runs nothing");
    let first = poll_fn(|cx| Poll::Ready(fan_out.as_mut().poll(cx))).await;
    assert!(first.is_pending());
    assert_eq!(probe.started(), 3);
    let (a, b, c) = fan_out.await.unwrap();
    assert_eq!((a, b.unwrap(), c.unwrap()), (1, 2, 3));
}

#[tokio::test(start_paused = true)]
async fn tasks_may_borrow_locals() {
    let user = String::from("wallet-user");
    let ids = vec![1_u32, 2, 3];
    let (len, sum) = FanOut::new((
        Task::critical("len", async { Ok::<_, Boom>(user.len() as u32) }),
        Task::best_effort("sum", async { Ok::<_, Boom>(ids.iter().sum::<u32>()) }),
    ))
    .await
    .unwrap();
    assert_eq!((len, sum.unwrap()), (11, 6));
    // The borrows have ended: the locals are usable again.
    drop((user, ids));
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(start_paused = true)]
async fn the_future_is_send_when_its_tasks_are() {
    let probe = Probe::new();
    let fan_out = assert_send(
        FanOut::new((
            Task::critical("a", probe.task(1, Act::Ok, 1)),
            Task::best_effort("b", probe.task(1, Act::Ok, 2)),
        ))
        .deadline(ms(10))
        .with_report(),
    );
    let ((a, _), report) = {
        let (result, report) = fan_out.await;
        (result.unwrap(), report)
    };
    assert_eq!(a, 1);
    assert_eq!(report.tasks().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn tasks_that_are_not_send_run_too() {
    // `Rc` is not `Send`: the engine adds no `Send` bound of its own.
    let shared = Rc::new(RefCell::new(0_u32));
    let (a, b) = FanOut::new((
        Task::critical("a", async {
            *shared.borrow_mut() += 1;
            Ok::<_, Boom>(1)
        }),
        Task::best_effort("b", async {
            *shared.borrow_mut() += 2;
            Ok::<_, Boom>(2)
        }),
    ))
    .await
    .unwrap();
    assert_eq!((a, b.unwrap(), *shared.borrow()), (1, 2, 3));
}

#[tokio::test(start_paused = true)]
async fn sixteen_tasks_fan_out() {
    let probe = Probe::new();
    let t = |n: u32| Task::critical("t", probe.task(u64::from(n), Act::Ok, n));
    let slots = FanOut::new((
        t(1),
        t(2),
        t(3),
        t(4),
        t(5),
        t(6),
        t(7),
        t(8),
        t(9),
        t(10),
        t(11),
        t(12),
        t(13),
        t(14),
        t(15),
        Task::best_effort("last", probe.task(16, Act::Err, 16)),
    ))
    .await
    .unwrap();
    assert_eq!(
        (slots.0, slots.5, slots.10),
        (1, 6, 11),
        "slots are positional"
    );
    assert_eq!(slots.14, 15);
    assert!(matches!(slots.15, Err(TaskError::Failed(Boom(16)))));
    assert_eq!(probe.alive(), 0);
}
