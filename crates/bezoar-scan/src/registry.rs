//! The detector contract and the registry the scan iterates.
//!
//! Every detector says who it is (its [`Detector`] name and stable rule id), which shared
//! representations it reads, and turns the shared [`Context`] into per-row scores and findings.
//! The scan builds a representation only when a chosen detector needs it, then runs the chosen
//! detectors in registry order, each seeing what the ones before it produced.

use crate::context::{Context, DetectorOutput};
use crate::result::Detector;

/// A shared representation, costly to build, that detectors read from the [`Context`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    /// Out-of-fold probabilities of the cross-validated text label model (`Context::cv`).
    LabelModel,
    /// The same with the user's embeddings appended (`Context::cv_label`), when given.
    EmbeddingModel,
    /// Labels of each row's nearest TF-IDF neighbours (`Context::neighbours`).
    Neighbours,
    /// Leave-one-out naive Bayes over words and character n-grams (`Context::bayes`).
    NaiveBayes,
}

/// What one detector outputs after the detectors before it (in registry order) ran.
pub(crate) type Earlier = [(DetectorOutput, f64)];

/// One detector: identity, needs, and the detection itself.
pub(crate) trait Detect: Sync {
    fn id(&self) -> Detector;
    fn needs(&self) -> &'static [Representation];
    fn detect(&self, ctx: &Context, earlier: &Earlier) -> DetectorOutput;
}

/// A detector written as a plain function of the context.
struct Plain {
    id: Detector,
    needs: &'static [Representation],
    run: fn(&Context) -> DetectorOutput,
}

impl Detect for Plain {
    fn id(&self) -> Detector {
        self.id
    }
    fn needs(&self) -> &'static [Representation] {
        self.needs
    }
    fn detect(&self, ctx: &Context, _: &Earlier) -> DetectorOutput {
        (self.run)(ctx)
    }
}

/// Sources summarise what the other detectors found, so this one reads their outputs.
struct Sources;

impl Detect for Sources {
    fn id(&self) -> Detector {
        Detector::Source
    }
    fn needs(&self) -> &'static [Representation] {
        &[]
    }
    fn detect(&self, ctx: &Context, earlier: &Earlier) -> DetectorOutput {
        crate::source::detect(ctx, earlier)
    }
}

static TRIGGER: Plain = Plain {
    id: Detector::Trigger,
    needs: &[Representation::LabelModel],
    run: crate::trigger::detect,
};
static UNUSUAL: Plain = Plain {
    id: Detector::UnusualChars,
    needs: &[],
    run: crate::unusual::detect,
};
static LABEL: Plain = Plain {
    id: Detector::LabelConsistency,
    needs: &[
        Representation::LabelModel,
        Representation::EmbeddingModel,
        Representation::Neighbours,
        Representation::NaiveBayes,
    ],
    run: crate::label::detect,
};
static DUPLICATES: Plain = Plain {
    id: Detector::Duplicates,
    needs: &[],
    run: crate::duplicates::detect,
};
static ANOMALY: Plain = Plain {
    id: Detector::Anomaly,
    needs: &[],
    run: crate::anomaly::detect,
};

/// Every detector, in the order the scan runs them (sources last: they summarise the others).
pub(crate) fn registry() -> [&'static dyn Detect; 6] {
    [&TRIGGER, &UNUSUAL, &LABEL, &DUPLICATES, &ANOMALY, &Sources]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_holds_every_detector_once_in_report_order() {
        let ids: Vec<Detector> = registry().iter().map(|d| d.id()).collect();
        assert_eq!(ids, Detector::CLASSIFICATION.to_vec());
    }

    #[test]
    fn only_model_readers_need_the_models() {
        for d in registry() {
            let needs_model = d.needs().contains(&Representation::LabelModel);
            assert_eq!(
                needs_model,
                matches!(d.id(), Detector::Trigger | Detector::LabelConsistency),
                "{:?}",
                d.id()
            );
        }
    }
}
