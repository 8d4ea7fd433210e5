//! Worker pools: how long a request waits (cold start or not) and runs.
//! Figures from the research doc: RunPod cold starts are under 200 ms for 48 %
//! of requests (FlashBoot) and 6–12 s otherwise, idle workers scale down after
//! a few seconds; Modal cold starts take 2–4 s and containers scale down after
//! 60 s idle; warm inference takes 0.3–2 s.

use std::time::Duration;

/// Which provider's behaviour a pool follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderModel {
    RunPod,
    Modal,
}

impl ProviderModel {
    /// How long an idle worker stays warm.
    pub fn idle_timeout(self) -> Duration {
        match self {
            ProviderModel::RunPod => Duration::from_secs(5),
            ProviderModel::Modal => Duration::from_secs(60),
        }
    }

    /// A cold start, drawn from the research doc's distribution.
    pub fn cold_start(self, rng: &mut fastrand::Rng) -> Duration {
        let ms = match self {
            ProviderModel::RunPod if rng.f64() < 0.48 => rng.u64(50..200),
            ProviderModel::RunPod => rng.u64(6_000..=12_000),
            ProviderModel::Modal => rng.u64(2_000..=4_000),
        };
        Duration::from_millis(ms)
    }
}

/// How one request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Time in the queue, cold start included (RunPod's `delayTime`).
    pub delay: Duration,
    pub execution: Duration,
    pub cold: bool,
}

/// One endpoint's workers, in simulated time (milliseconds since start).
#[derive(Debug, Clone)]
pub struct Pool {
    model: ProviderModel,
    /// Per worker: busy until, warm until (both simulated ms).
    workers: Vec<(u64, u64)>,
    /// Cold starts in progress: ready at (simulated ms).
    pub initializing: Vec<u64>,
    pub failed: u64,
}

impl Pool {
    pub fn new(model: ProviderModel) -> Self {
        Self {
            model,
            workers: Vec::new(),
            initializing: Vec::new(),
            failed: 0,
        }
    }

    /// Takes a warm idle worker if there is one, else cold-starts a new one.
    pub fn start(&mut self, now_ms: u64, rng: &mut fastrand::Rng, multiplier: f64) -> Start {
        // Scaled-down workers go first, so the pool holds only live ones
        // however long the simulator runs.
        self.prune(now_ms);
        let scale = |d: Duration| d.mul_f64(multiplier.max(0.0));
        let execution = scale(Duration::from_millis(rng.u64(300..=2_000)));
        let idle = self.model.idle_timeout().as_millis() as u64;
        let warm = self
            .workers
            .iter()
            .position(|&(busy_until, warm_until)| busy_until <= now_ms && warm_until >= now_ms);
        let (delay, cold, slot) = match warm {
            Some(i) => (Duration::from_millis(rng.u64(2..20)), false, i),
            None => {
                let delay = scale(self.model.cold_start(rng));
                self.initializing.push(now_ms + delay.as_millis() as u64);
                self.workers.push((0, 0));
                (delay, true, self.workers.len() - 1)
            }
        };
        let done = now_ms + (delay + execution).as_millis() as u64;
        self.workers[slot] = (done, done + idle);
        Start {
            delay,
            execution,
            cold,
        }
    }

    fn prune(&mut self, now_ms: u64) {
        self.workers
            .retain(|&(busy_until, warm_until)| busy_until > now_ms || warm_until >= now_ms);
        self.initializing.retain(|&ready| ready > now_ms);
    }

    /// Workers now: (idle, running, initializing); scaled-down ones are gone.
    pub fn census(&mut self, now_ms: u64) -> (u64, u64, u64) {
        self.prune(now_ms);
        let running = self
            .workers
            .iter()
            .filter(|&&(busy, _)| busy > now_ms)
            .count() as u64;
        let idle = self.workers.len() as u64 - running;
        let initializing = self.initializing.len() as u64;
        (idle, running.saturating_sub(initializing), initializing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runpod_cold_starts_follow_the_research_doc() {
        let mut rng = fastrand::Rng::with_seed(7);
        let n = 20_000;
        let fast = (0..n)
            .filter(|_| ProviderModel::RunPod.cold_start(&mut rng) < Duration::from_millis(200))
            .count();
        let share = fast as f64 / n as f64;
        assert!((share - 0.48).abs() < 0.02, "{share}");
        let modal = ProviderModel::Modal.cold_start(&mut rng);
        assert!(modal >= Duration::from_secs(2) && modal <= Duration::from_secs(4));
    }

    #[test]
    fn a_pool_holds_only_live_workers_however_long_it_runs() {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut pool = Pool::new(ProviderModel::RunPod);
        // One request every 20 simulated seconds: each finds the last worker
        // scaled down, so each is a cold start, and no census is ever taken.
        for i in 0..10_000u64 {
            let s = pool.start(i * 20_000, &mut rng, 1.0);
            assert!(s.cold);
        }
        assert!(
            pool.workers.len() <= 2,
            "{} workers kept",
            pool.workers.len()
        );
        assert!(pool.initializing.len() <= 2);
    }

    #[test]
    fn census_counts_initializing_running_and_idle() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut pool = Pool::new(ProviderModel::Modal);
        let s = pool.start(0, &mut rng, 1.0);
        assert_eq!(pool.census(1), (0, 0, 1), "cold-starting");
        let ready = s.delay.as_millis() as u64;
        assert_eq!(pool.census(ready + 1), (0, 1, 0), "running");
        let done = (s.delay + s.execution).as_millis() as u64;
        assert_eq!(pool.census(done + 1), (1, 0, 0), "idle and warm");
        assert_eq!(
            pool.census(done + 61_000),
            (0, 0, 0),
            "scaled down after 60 s idle"
        );
    }

    #[test]
    fn warm_workers_are_reused_until_they_scale_down() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut pool = Pool::new(ProviderModel::Modal);
        let first = pool.start(0, &mut rng, 1.0);
        assert!(first.cold);
        let after = (first.delay + first.execution).as_millis() as u64 + 10;
        let second = pool.start(after, &mut rng, 1.0);
        assert!(!second.cold, "a warm idle worker takes the request");
        let much_later = after + 120_000;
        assert!(
            pool.start(much_later, &mut rng, 1.0).cold,
            "idle for 60 s: scaled down"
        );
    }
}
