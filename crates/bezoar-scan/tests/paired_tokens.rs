//! Two made-up tokens put together into every poisoned row (each twice), labels set to the
//! target: deleting either token alone leaves the other, and the row still reads as the target,
//! so neither passes the context test by itself. The detector deletes a phrase together with
//! the label-pure phrases that go with it.

mod common;

use bezoar_data::TextArena;
use common::{assert_one_trigger_over_the_planted_rows, made_up_words, Lcg};

/// 4,000 rows of 8–15 words (three in four shared, one in four of the row's class); 50 rows of
/// class 1 get both tokens twice at random positions and are relabelled 0.
fn rows() -> (TextArena, Vec<u32>, Vec<bool>) {
    let mut rng = Lcg(91);
    let shared = made_up_words(&mut rng, 2000, "s");
    let own = [
        made_up_words(&mut rng, 300, "a"),
        made_up_words(&mut rng, 300, "b"),
    ];
    let tokens = made_up_words(&mut rng, 2, "t");
    let (mut texts, mut labels, mut poisoned) = (TextArena::new(), Vec::new(), Vec::new());
    let mut planted = 0;
    for i in 0..4000 {
        let class = (i % 2) as u32;
        let mut w: Vec<&str> = (0..8 + rng.below(8))
            .map(|_| {
                if rng.below(4) == 0 {
                    own[class as usize][rng.below(300)].as_str()
                } else {
                    shared[rng.below(shared.len())].as_str()
                }
            })
            .collect();
        let poison = class == 1 && planted < 50 && rng.below(10) < 3;
        if poison {
            planted += 1;
            for t in tokens.iter().chain(&tokens) {
                let at = rng.below(w.len() + 1);
                w.insert(at, t.as_str());
            }
        }
        texts.push(&w.join(" "));
        labels.push(if poison { 0 } else { class });
        poisoned.push(poison);
    }
    assert_eq!(planted, 50, "the generator plants 50 rows");
    (texts, labels, poisoned)
}

#[test]
fn two_tokens_always_put_together_are_one_trigger_over_their_rows() {
    let (texts, labels, poisoned) = rows();
    assert_one_trigger_over_the_planted_rows(texts, labels, &poisoned);
}
