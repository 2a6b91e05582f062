//! The closed model on the tokio engine: each VU loops as fast as the target answers.
//! With stages, the controller publishes the number of VUs that should be active; VUs
//! above it park between iterations until the level rises again. A rate cap paces
//! every request (`WorkerCtx::may_send`).

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kaioken_vm::{Program, Yield};

use crate::control::reached;
use crate::vu::Vu;
use crate::worker::{TokioVu, WorkerCtx, think};

pub(crate) async fn closed_vu(ctx: Rc<WorkerCtx>, number: u32, delay: Duration, from: Option<Vu>) {
    let shared = &*ctx.shared;
    let control = &*shared.control;
    let program: &Program = &ctx.program;
    let mut stop_rx = control.subscribe();
    let at_work = ctx.at_work();
    if !delay.is_zero() {
        let at = tokio::time::Instant::from_std(shared.start + delay);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = reached(&mut stop_rx, 1) => return,
        }
    }
    let mut vu = TokioVu::new(
        from.unwrap_or_else(|| Vu::new(program, number, shared.plan.transport.cookie_jar)),
    )
    .traced(shared, number);
    let mut active = false;
    let mut at_entry = vu.vu.between_iterations(program);
    if !at_entry {
        // Handed over in the middle of an iteration: it is active already.
        active = true;
        ctx.stats.borrow_mut().vus_changed(Instant::now(), 1);
    }
    if vu.vu.following() {
        // Handed over with a redirect to another origin still to send.
        if !ctx.may_send(&mut stop_rx).await || !vu.send(&ctx, None, &mut stop_rx).await {
            vu.vu.abandon_redirect(program);
        }
    }
    loop {
        if !shared.going_on() {
            break;
        }
        if at_entry {
            // Stages: park above the current level, between iterations only.
            if shared.vu_target.load(Ordering::Acquire) < number {
                if active {
                    active = false;
                    ctx.stats.borrow_mut().vus_changed(Instant::now(), -1);
                }
                let mut target = shared.vu_target_tx.subscribe();
                tokio::select! {
                    _ = target.wait_for(|t| *t >= number) => {}
                    _ = reached(&mut stop_rx, 1) => break,
                }
                continue;
            }
            if !active {
                active = true;
                ctx.stats.borrow_mut().vus_changed(Instant::now(), 1);
            }
        }
        match vu.vu.next(program) {
            Yield::IterationDone | Yield::IterationAborted => {
                at_entry = true;
                continue;
            }
            Yield::DataExhausted => {
                control.stop(crate::StopReason::DataExhausted);
                break;
            }
            Yield::Sleep(pause) => {
                if !think(pause, &mut stop_rx).await {
                    break;
                }
                continue;
            }
            Yield::Pace(interval) => {
                if !vu.pace(interval, &mut stop_rx).await {
                    break;
                }
                continue;
            }
            Yield::Send(_) => {}
        }
        // Wait for the rate limit and claim from the budget first, and only then count
        // the iteration: a stop that cuts the wait short must not leave an iteration
        // counted that never sent anything. The loop's head saw the run going on.
        if !ctx.may_send_yielded(&mut stop_rx).await {
            break;
        }
        if at_entry {
            ctx.stats
                .borrow_mut()
                .iteration_started(Instant::now(), None);
        }
        at_entry = false;
        if !vu.send(&ctx, None, &mut stop_rx).await {
            break;
        }
    }
    if active {
        ctx.stats.borrow_mut().vus_changed(Instant::now(), -1);
    }
    drop(at_work);
    vu.drivers.finish(reached(&mut stop_rx, 2)).await;
}
