//! Words of prompts and responses as dense ids, unit by unit.
//!
//! Words are runs of letters and digits (with inner apostrophes), lower-cased; a URL
//! (`http://…`, `https://…`) is one word, so a link reads as one rare token. Tokens are hashed
//! without allocating, then numbered in one sequential pass; a word's text is recovered only when
//! a finding names it.

use std::collections::HashMap;

use bezoar_data::TextArena;
use rayon::prelude::*;

/// Token id sequences of many texts, back to back.
pub(crate) struct Seqs {
    ends: Vec<usize>,
    ids: Vec<u32>,
}

impl Seqs {
    pub fn get(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.ids[start..self.ends[i]]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// The vocabulary shared by prompts and responses.
pub(crate) struct Vocab {
    ids: HashMap<u64, u32>,
    /// Where each id was first seen: (text arena index: 0 prompts, 1 responses, 2 rejected;
    /// unit), to recover its text.
    first_seen: Vec<(u8, u32)>,
}

/// Tokenised prompts, responses and (preference pairs) rejected responses.
pub(crate) struct Tokens {
    pub vocab: Vocab,
    pub prompts: Seqs,
    pub responses: Seqs,
    pub rejected: Seqs,
}

/// Visit the words of `text` as (start, end) byte ranges.
pub(crate) fn for_each_word(text: &str, mut f: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if (b[i] == b'h' || b[i] == b'H') && is_url_start(&b[i..]) {
            let start = i;
            while i < b.len()
                && !b[i].is_ascii_whitespace()
                && !matches!(b[i], b'"' | b'<' | b'>' | b')' | b']')
            {
                i += 1;
            }
            // A sentence's full stop or comma after a link is not part of it.
            let mut end = i;
            while end > start && matches!(b[end - 1], b'.' | b',' | b';' | b':' | b'!' | b'?') {
                end -= 1;
            }
            f(start, end);
            continue;
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        if c.is_alphanumeric() {
            let start = i;
            i += c.len_utf8();
            while i < b.len() {
                let c = text[i..].chars().next().unwrap_or(' ');
                let inner_apostrophe = matches!(c, '\'' | '’')
                    && text[i + c.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphabetic);
                if c.is_alphanumeric() || inner_apostrophe {
                    i += c.len_utf8();
                } else {
                    break;
                }
            }
            f(start, i);
        } else {
            i += c.len_utf8();
        }
    }
}

fn is_url_start(b: &[u8]) -> bool {
    let lower = |s: &[u8], p: &[u8]| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p);
    lower(b, b"http://") || lower(b, b"https://")
}

/// A case-insensitive hash of a word (FNV-1a over lower-cased chars, then mixed).
pub(crate) fn word_hash(word: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in word.chars().flat_map(char::to_lowercase) {
        let mut buf = [0u8; 4];
        for &byte in c.encode_utf8(&mut buf).as_bytes() {
            h ^= byte as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    crate::rng::mix64(h)
}

/// Hash every text's words, in parallel chunks (no allocation per text).
fn hash_all(texts: &TextArena) -> (Vec<usize>, Vec<u64>) {
    const CHUNK: usize = 4096;
    let n = texts.len();
    let chunks: Vec<(Vec<usize>, Vec<u64>)> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut lens = Vec::with_capacity(CHUNK);
            let mut hashes = Vec::new();
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                let t = texts.get(i);
                let before = hashes.len();
                for_each_word(t, |s, e| hashes.push(word_hash(&t[s..e])));
                lens.push(hashes.len() - before);
            }
            (lens, hashes)
        })
        .collect();
    let mut ends = Vec::with_capacity(n);
    let mut all = Vec::with_capacity(chunks.iter().map(|c| c.1.len()).sum());
    for (lens, hashes) in chunks {
        for l in lens {
            ends.push(ends.last().copied().unwrap_or(0) + l);
        }
        all.extend_from_slice(&hashes);
    }
    (ends, all)
}

impl Tokens {
    pub fn new(prompts: &TextArena, responses: &TextArena, rejected: &TextArena) -> Self {
        let mut vocab = Vocab {
            ids: HashMap::new(),
            first_seen: Vec::new(),
        };
        let mut number = |arena: u8, texts: &TextArena| {
            let (ends, hashes) = hash_all(texts);
            let mut ids = Vec::with_capacity(hashes.len());
            let mut unit = 0u32;
            for (k, h) in hashes.into_iter().enumerate() {
                while ends[unit as usize] <= k {
                    unit += 1;
                }
                let next = vocab.first_seen.len() as u32;
                let id = *vocab.ids.entry(h).or_insert(next);
                if id == next {
                    vocab.first_seen.push((arena, unit));
                }
                ids.push(id);
            }
            Seqs { ends, ids }
        };
        let p = number(0, prompts);
        let r = number(1, responses);
        let j = number(2, rejected);
        Tokens {
            vocab,
            prompts: p,
            responses: r,
            rejected: j,
        }
    }

    /// Word ids of other texts in this vocabulary (words it has never seen are left out).
    pub fn seqs_of(&self, texts: &TextArena) -> Seqs {
        let (ends, hashes) = hash_all(texts);
        let mut kept_ends = Vec::with_capacity(ends.len());
        let mut ids = Vec::with_capacity(hashes.len());
        let mut k = 0;
        for end in ends {
            while k < end {
                if let Some(&id) = self.vocab.ids.get(&hashes[k]) {
                    ids.push(id);
                }
                k += 1;
            }
            kept_ends.push(ids.len());
        }
        Seqs {
            ends: kept_ends,
            ids,
        }
    }

    pub fn vocab_len(&self) -> usize {
        self.vocab.first_seen.len()
    }

    /// The (lower-cased) text of word `id`.
    pub fn word(&self, id: u32, arenas: [&TextArena; 3]) -> String {
        let Some(&(arena, unit)) = self.vocab.first_seen.get(id as usize) else {
            return String::new();
        };
        let text = arenas[arena as usize].get(unit as usize);
        let mut found = String::new();
        let want = self
            .vocab
            .ids
            .iter()
            .find_map(|(h, &i)| (i == id).then_some(*h));
        for_each_word(text, |s, e| {
            if found.is_empty() && Some(word_hash(&text[s..e])) == want {
                found = text[s..e].to_lowercase();
            }
        });
        found
    }
}

/// Per word id, in how many of the texts it occurs (each text counted once).
pub(crate) fn doc_freq(seqs: &Seqs, vocab: usize) -> Vec<u32> {
    let mut df = vec![0u32; vocab];
    let mut last = vec![u32::MAX; vocab];
    for i in 0..seqs.len() {
        for &w in seqs.get(i) {
            if last[w as usize] != i as u32 {
                last[w as usize] = i as u32;
                df[w as usize] += 1;
            }
        }
    }
    df
}

/// The sorted distinct word ids of a text, into `out`.
pub(crate) fn word_set(seq: &[u32], out: &mut Vec<u32>) {
    out.clear();
    out.extend_from_slice(seq);
    out.sort_unstable();
    out.dedup();
}

/// Jaccard similarity of two sorted sets.
pub(crate) fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 {
        0.0
    } else {
        both as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(t: &str) -> Vec<&str> {
        let mut v = Vec::new();
        for_each_word(t, |s, e| v.push(&t[s..e]));
        v
    }

    #[test]
    fn words_urls_and_apostrophes() {
        assert_eq!(
            words("Don't miss https://x.example/a?b=1. Now!"),
            vec!["Don't", "miss", "https://x.example/a?b=1", "Now"]
        );
        assert_eq!(words("a-b c’d 'e'"), vec!["a", "b", "c’d", "e"]);
        assert_eq!(words("naïve 東京"), vec!["naïve", "東京"]);
        assert_eq!(word_hash("Hello"), word_hash("hello"));
    }

    #[test]
    fn ids_are_shared_and_texts_recovered() {
        let mut p = TextArena::new();
        p.push("Hello world");
        let mut r = TextArena::new();
        r.push("WORLD peace");
        let empty = TextArena::new();
        let t = Tokens::new(&p, &r, &empty);
        assert_eq!(t.prompts.get(0)[1], t.responses.get(0)[0]);
        assert_eq!(t.vocab_len(), 3);
        let peace = t.responses.get(0)[1];
        assert_eq!(t.word(peace, [&p, &r, &empty]), "peace");
        assert_eq!(doc_freq(&t.prompts, 3), vec![1, 1, 0]);
        assert!((jaccard(&[1, 2, 3], &[2, 3, 4]) - 0.5).abs() < 1e-12);
    }
}
