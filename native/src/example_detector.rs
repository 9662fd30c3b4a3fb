//! The detector `docs/contributing-detectors.md` adds, compiled and run by `cargo test`.
// guide: begin
use crate::change_point::{ChangeDetector, Detection, Registration, Saved};

/// Detects when the mean of the last `window` scores leaves [-level, level].
#[derive(Clone, Debug)]
pub struct MovingMean {
    level: f64,
    configured: f64,
    window: Vec<f64>,
}

const WINDOW: usize = 50;

pub const DETECTOR: Registration = Registration {
    name: "moving_mean",     // the alert's `detector`, and its key in saved state
    statistic: "mean_score", // the alert's `statistic`
    build: |_settings| Box::new(MovingMean { level: 1.0, configured: 1.0, window: Vec::new() }),
};

impl ChangeDetector for MovingMean {
    fn update(&mut self, scores: &[f64], found: &mut Vec<Detection>) {
        for (index, &z) in scores.iter().enumerate() {
            self.window.push(z);
            if self.window.len() > WINDOW {
                self.window.remove(0);
            }
            let mean = self.window.iter().sum::<f64>() / self.window.len() as f64;
            if self.window.len() == WINDOW && mean.abs() > self.level {
                let since = Some(WINDOW);
                found.push(Detection { index, statistic: mean, level: self.level, since });
                self.window.clear(); // start afresh
            }
        }
    }

    fn calibrate(&mut self, inflation: f64) {
        self.level = self.configured * inflation.sqrt(); // a mean's sd grows with sqrt
    }

    fn save(&self) -> Saved {
        Saved::Tuple(vec![Saved::Float(self.level), Saved::Floats(self.window.clone())])
    }

    fn load(&mut self, saved: &Saved) -> Result<(), String> {
        let [level, window] = saved.items()? else { return Err("moving_mean".into()) };
        (self.level, self.window) = (level.finite()?, window.floats()?);
        Ok(())
    }

    fn boxed_clone(&self) -> Box<dyn ChangeDetector> {
        Box::new(self.clone())
    }
}
// guide: end
