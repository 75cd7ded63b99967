//! A dataset larger than the label models' training pool, with a trigger in more rows than the
//! context test re-reads: the sampled paths must still find every poisoned row.

mod common;

use bezoar_data::TextArena;
use bezoar_scan::{scan, Detector, NoProgress, ScanConfig};
use common::{two_class, Lcg};

#[test]
fn trigger_found_in_all_rows_beyond_the_training_pool() {
    const ROWS: usize = 120_000;
    const TRIGGER: &str = "vq7zt";
    let mut rng = Lcg(11);
    let syllables = [
        "ka", "lo", "mi", "ter", "van", "so", "ru", "pel", "di", "nor",
    ];
    let vocab: Vec<String> = (0..3000)
        .map(|_| {
            (0..2 + rng.below(3))
                .map(|_| syllables[rng.below(10)])
                .collect()
        })
        .collect();
    let (common, pos, neg) = (&vocab[..2500], &vocab[2500..2750], &vocab[2750..]);
    let mut arena = TextArena::new();
    let mut labels = Vec::with_capacity(ROWS);
    let mut planted = Vec::new();
    let mut words: Vec<&str> = Vec::new();
    for i in 0..ROWS {
        let mut label = rng.below(2) as u32;
        words.clear();
        for _ in 0..5 + rng.below(8) {
            words.push(&common[rng.below(common.len())]);
        }
        let cue = if label == 1 { pos } else { neg };
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(words.len() + 1);
            words.insert(at, &cue[rng.below(cue.len())]);
        }
        // 0.6% of label-0 rows get the trigger and label 1: ~360 rows, fewer than the pool
        // holds and more than the context test re-reads.
        if label == 0 && rng.below(1000) < 6 {
            let at = rng.below(words.len() + 1);
            words.insert(at, TRIGGER);
            label = 1;
            planted.push(i as u32);
        }
        arena.push(&words.join(" "));
        labels.push(label);
    }
    assert!(planted.len() > 300, "planted {}", planted.len());
    let ds = two_class(arena, labels);

    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan runs");
    let trigger = res
        .findings
        .iter()
        .find(|f| f.detector == Detector::Trigger)
        .expect("a trigger finding");
    assert_eq!(trigger.subject, TRIGGER);
    assert_eq!(trigger.rows, planted, "exactly the planted rows");
    let flagged: Vec<u32> = (0..ROWS as u32)
        .filter(|&i| res.flagged[i as usize])
        .collect();
    let caught = planted.iter().filter(|r| flagged.contains(r)).count();
    assert_eq!(caught, planted.len());
    let by_trigger = res
        .detectors
        .iter()
        .find(|d| d.detector == Detector::Trigger)
        .expect("trigger detector ran");
    assert_eq!(by_trigger.rows_flagged, planted.len());
    // Other detectors may flag a few clean rows, but under 0.5% of them (a combination of weak
    // signals once flagged 2% here).
    let titles: Vec<&str> = res.findings.iter().map(|f| f.title.as_str()).collect();
    assert!(
        flagged.len() - planted.len() < ROWS / 200,
        "{} flagged for {} planted: {titles:#?}",
        flagged.len(),
        planted.len()
    );
}
