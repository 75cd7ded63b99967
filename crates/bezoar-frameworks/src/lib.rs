//! The framework mapping: for each bezoar rule id, the identifiers in the frameworks a security
//! team files findings under (MITRE ATLAS techniques, OWASP Top 10 for LLM Applications, OWASP
//! Machine Learning Security Top Ten, NIST AI RMF, NIST CSF 2.0, EU AI Act articles and ISO/IEC
//! 42001 Annex A controls).
//!
//! Every identifier and title was read from published text, never written from memory; the
//! edition and where it was read are in [`FRAMEWORKS`] and in FORMATS.md ("Framework mapping").
//! A rule maps to an identifier only where the identifier's own text covers what the rule finds
//! (EU AI Act Art. 10(2)(f)/(g), about bias, are deliberately not claimed).
//!
//! This crate has no bezoar dependencies so that both the report renderers and the ledger (gate
//! summary, ML-BOM) can carry the same table.

use serde_json::{json, Map, Value};

/// One framework, at the edition the identifiers were read from.
#[derive(Debug, PartialEq, Eq)]
pub struct Framework {
    /// Stable key used in JSON, SARIF tags and BOM property names (`mitre-atlas`, ...).
    pub key: &'static str,
    pub name: &'static str,
    /// The edition cited.
    pub version: &'static str,
    /// Where the identifiers were read.
    pub source: &'static str,
}

/// One identifier in one framework.
#[derive(Debug, PartialEq, Eq)]
pub struct Ref {
    pub framework: &'static Framework,
    pub id: &'static str,
    /// The framework's own title (NIST subcategories have none: the start of their statement).
    pub title: &'static str,
}

impl Ref {
    /// `framework-key/ID`, the form used for SARIF `properties.tags`.
    pub fn tag(&self) -> String {
        format!("{}/{}", self.framework.key, self.id)
    }

    pub fn to_json(&self) -> Value {
        json!({ "framework": self.framework.key, "id": self.id, "title": self.title })
    }
}

pub static MITRE_ATLAS: Framework = Framework {
    key: "mitre-atlas",
    name: "MITRE ATLAS",
    version: "data v4.9.0",
    source:
        "github.com/mitre-atlas/atlas-data data/techniques.yaml (v4.9.0), data/mitigations.yaml",
};
pub static OWASP_LLM: Framework = Framework {
    key: "owasp-llm",
    name: "OWASP Top 10 for LLM Applications",
    version: "2025",
    source: "github.com/OWASP/www-project-top-10-for-large-language-model-applications 2_0_vulns/",
};
pub static OWASP_ML: Framework = Framework {
    key: "owasp-ml",
    name: "OWASP Machine Learning Security Top Ten",
    version: "2023 (draft)",
    source: "github.com/OWASP/www-project-machine-learning-security-top-10 docs/",
};
pub static NIST_AI_RMF: Framework = Framework {
    key: "nist-ai-rmf",
    name: "NIST AI RMF",
    version: "1.0 (NIST AI 100-1, January 2023)",
    source: "doi:10.6028/NIST.AI.100-1 (text read from a transcription of it)",
};
pub static NIST_CSF: Framework = Framework {
    key: "nist-csf",
    name: "NIST CSF",
    version: "2.0 (NIST CSWP 29, February 2024)",
    source: "doi:10.6028/NIST.CSWP.29 (text read from transcriptions of it)",
};
pub static EU_AI_ACT: Framework = Framework {
    key: "eu-ai-act",
    name: "EU AI Act",
    version: "Regulation (EU) 2024/1689",
    source:
        "eur-lex.europa.eu/eli/reg/2024/1689/oj; Art. 10 from the Commission's AI Act Service Desk",
};
pub static ISO_42001: Framework = Framework {
    key: "iso-42001",
    name: "ISO/IEC 42001",
    version: "2023, Annex A",
    source: "not freely published: control numbers and titles from public secondary sources (AWS Well-Architected Responsible AI Lens RAIDP03-BP01, control lists)",
};

/// Every framework, in the order reports list them.
pub static FRAMEWORKS: [&Framework; 7] = [
    &MITRE_ATLAS,
    &OWASP_LLM,
    &OWASP_ML,
    &NIST_AI_RMF,
    &NIST_CSF,
    &EU_AI_ACT,
    &ISO_42001,
];

const fn r(framework: &'static Framework, id: &'static str, title: &'static str) -> Ref {
    Ref {
        framework,
        id,
        title,
    }
}

// Identifiers used by more than one rule.
const ATLAS_POISON: Ref = r(&MITRE_ATLAS, "AML.T0020", "Poison Training Data");
const ATLAS_TRIGGER: Ref = r(&MITRE_ATLAS, "AML.T0043.004", "Insert Backdoor Trigger");
const ATLAS_ERODE: Ref = r(&MITRE_ATLAS, "AML.T0059", "Erode Dataset Integrity");
const ATLAS_SUPPLY_DATA: Ref = r(
    &MITRE_ATLAS,
    "AML.T0010.002",
    "AI Supply Chain Compromise: Data",
);
const ATLAS_SANITIZE: Ref = r(
    &MITRE_ATLAS,
    "AML.M0007",
    "Sanitize Training Data (mitigation)",
);
const LLM04: Ref = r(&OWASP_LLM, "LLM04:2025", "Data and Model Poisoning");
const LLM06: Ref = r(&OWASP_LLM, "LLM06:2025", "Excessive Agency");
const ML02: Ref = r(&OWASP_ML, "ML02:2023", "Data Poisoning Attack");
const MEASURE_2_7: Ref = r(
    &NIST_AI_RMF,
    "MEASURE 2.7",
    "AI system security and resilience are evaluated and documented",
);
const DE_CM_09: Ref = r(
    &NIST_CSF,
    "DE.CM-09",
    "Computing hardware and software, runtime environments, and their data are monitored to find potentially adverse events",
);
const DE_AE_02: Ref = r(
    &NIST_CSF,
    "DE.AE-02",
    "Potentially adverse events are analyzed to better understand associated activities",
);
const PR_DS_01: Ref = r(
    &NIST_CSF,
    "PR.DS-01",
    "The confidentiality, integrity, and availability of data-at-rest are protected",
);
const ART_15_5: Ref = r(
    &EU_AI_ACT,
    "Art. 15(5)",
    "Accuracy, robustness and cybersecurity: measures to prevent, detect, respond to, resolve and control for data poisoning",
);
const ART_10_2_C: Ref = r(
    &EU_AI_ACT,
    "Art. 10(2)(c)",
    "Data and data governance: data-preparation processing operations (annotation, labelling, cleaning, ...)",
);
const ART_10_3: Ref = r(
    &EU_AI_ACT,
    "Art. 10(3)",
    "Data and data governance: data sets relevant, sufficiently representative, free of errors and complete",
);
const A_7_4: Ref = r(&ISO_42001, "A.7.4", "Quality of data for AI systems");
const A_7_6: Ref = r(&ISO_42001, "A.7.6", "Data preparation");

/// The identifiers of a backdoor trigger planted in training data: BZ001 (text classification)
/// and BZ007 (a prompt trigger in LLM data) answer the same ones.
const BACKDOOR_TRIGGER_REFS: &[Ref] = &[
    ATLAS_POISON,
    ATLAS_TRIGGER,
    r(
        &MITRE_ATLAS,
        "AML.T0018.000",
        "Backdoor AI Model: Poison AI Model",
    ),
    ATLAS_SANITIZE,
    LLM04,
    ML02,
    MEASURE_2_7,
    DE_CM_09,
    DE_AE_02,
    ART_15_5,
    A_7_4,
];

/// A rule's identifiers, every framework in [`FRAMEWORKS`] order.
pub struct RuleMapping {
    pub rule: &'static str,
    pub refs: &'static [Ref],
}

/// The mapping, one entry per rule id (scan detectors BZ001–BZ010, the model probe BZ101).
pub static RULES: &[RuleMapping] = &[
    RuleMapping {
        rule: "BZ001",
        refs: BACKDOOR_TRIGGER_REFS,
    },
    RuleMapping {
        rule: "BZ002",
        refs: &[
            ATLAS_POISON,
            ATLAS_TRIGGER,
            ATLAS_SANITIZE,
            LLM04,
            ML02,
            MEASURE_2_7,
            DE_CM_09,
            ART_15_5,
            ART_10_2_C,
            A_7_4,
            A_7_6,
        ],
    },
    RuleMapping {
        rule: "BZ003",
        refs: &[
            ATLAS_POISON,
            ATLAS_SUPPLY_DATA,
            ATLAS_ERODE,
            LLM04,
            ML02,
            MEASURE_2_7,
            DE_CM_09,
            PR_DS_01,
            ART_10_2_C,
            ART_10_3,
            ART_15_5,
            A_7_4,
            A_7_6,
        ],
    },
    RuleMapping {
        rule: "BZ004",
        refs: &[
            ATLAS_POISON,
            ATLAS_ERODE,
            LLM04,
            ML02,
            MEASURE_2_7,
            DE_CM_09,
            PR_DS_01,
            ART_10_3,
            ART_15_5,
            A_7_4,
            A_7_6,
        ],
    },
    RuleMapping {
        rule: "BZ005",
        refs: &[
            ATLAS_POISON,
            ATLAS_SANITIZE,
            LLM04,
            ML02,
            MEASURE_2_7,
            DE_CM_09,
            DE_AE_02,
            ART_10_3,
            ART_15_5,
            A_7_4,
        ],
    },
    RuleMapping {
        rule: "BZ006",
        refs: &[
            r(&MITRE_ATLAS, "AML.T0010", "AI Supply Chain Compromise"),
            ATLAS_SUPPLY_DATA,
            r(&MITRE_ATLAS, "AML.T0019", "Publish Poisoned Datasets"),
            r(&MITRE_ATLAS, "AML.M0025", "Maintain AI Dataset Provenance (mitigation)"),
            r(&OWASP_LLM, "LLM03:2025", "Supply Chain"),
            LLM04,
            r(&OWASP_ML, "ML06:2023", "AI Supply Chain Attacks"),
            r(
                &NIST_AI_RMF,
                "MAP 4.1",
                "Approaches for mapping AI technology and legal risks of its components, including the use of third-party data or software, are in place",
            ),
            r(
                &NIST_AI_RMF,
                "GOVERN 6.1",
                "Policies and procedures address AI risks associated with third-party entities",
            ),
            r(
                &NIST_AI_RMF,
                "MANAGE 3.1",
                "AI risks and benefits from third-party resources are regularly monitored, and risk controls are applied and documented",
            ),
            r(
                &NIST_CSF,
                "GV.SC-07",
                "The risks posed by a supplier, their products and services, and other third parties are understood, recorded, prioritized, assessed, responded to, and monitored",
            ),
            r(
                &NIST_CSF,
                "ID.AM-07",
                "Inventories of data and corresponding metadata for designated data types are maintained",
            ),
            r(
                &EU_AI_ACT,
                "Art. 10(2)(b)",
                "Data and data governance: data collection processes and the origin of data",
            ),
            r(&ISO_42001, "A.7.3", "Acquisition of data"),
            r(&ISO_42001, "A.7.5", "Data provenance"),
            r(&ISO_42001, "A.10.3", "Suppliers"),
        ],
    },
    RuleMapping {
        rule: "BZ007",
        refs: BACKDOOR_TRIGGER_REFS,
    },
    RuleMapping {
        rule: "BZ008",
        refs: &[
            ATLAS_POISON,
            ATLAS_SANITIZE,
            LLM04,
            ML02,
            MEASURE_2_7,
            DE_CM_09,
            DE_AE_02,
            ART_15_5,
            A_7_4,
            A_7_6,
        ],
    },
    RuleMapping {
        rule: "BZ009",
        refs: &[
            ATLAS_POISON,
            ATLAS_TRIGGER,
            ATLAS_SANITIZE,
            LLM04,
            LLM06,
            ML02,
            MEASURE_2_7,
            DE_CM_09,
            DE_AE_02,
            ART_15_5,
            A_7_4,
        ],
    },
    RuleMapping {
        rule: "BZ010",
        refs: &[
            ATLAS_POISON,
            ATLAS_TRIGGER,
            ATLAS_ERODE,
            LLM04,
            ML02,
            MEASURE_2_7,
            DE_CM_09,
            ART_10_2_C,
            ART_10_3,
            ART_15_5,
            A_7_4,
            A_7_6,
        ],
    },
    RuleMapping {
        rule: "BZ101",
        refs: &[
            r(&MITRE_ATLAS, "AML.T0018", "Backdoor AI Model"),
            r(&MITRE_ATLAS, "AML.T0018.000", "Backdoor AI Model: Poison AI Model"),
            r(&MITRE_ATLAS, "AML.M0008", "Validate ML Model (mitigation)"),
            LLM04,
            r(&OWASP_ML, "ML10:2023", "Model Poisoning"),
            MEASURE_2_7,
            r(
                &NIST_AI_RMF,
                "MANAGE 1.1",
                "A determination is made as to whether the AI system achieves its intended purposes and whether its development or deployment should proceed",
            ),
            r(
                &NIST_AI_RMF,
                "MANAGE 3.2",
                "Pre-trained models which are used for development are monitored as part of AI system regular monitoring and maintenance",
            ),
            r(
                &NIST_CSF,
                "ID.RA-01",
                "Vulnerabilities in assets are identified, validated, and recorded",
            ),
            r(
                &EU_AI_ACT,
                "Art. 15(1)",
                "Accuracy, robustness and cybersecurity: an appropriate level throughout the lifecycle",
            ),
            ART_15_5,
            r(&ISO_42001, "A.6.2.4", "AI system verification and validation"),
        ],
    },
];

/// The rule ids of `bezoar scan`'s detectors (bezoar-scan's `Detector::ALL`; a test there keeps
/// the two lists equal): BZ001–BZ006 for text classification, BZ007–BZ010 for LLM data. The
/// ledger, which does not link the detectors, names the controls a recorded scan answered with it.
pub const SCAN_RULES: [&str; 10] = [
    "BZ001", "BZ002", "BZ003", "BZ004", "BZ005", "BZ006", "BZ007", "BZ008", "BZ009", "BZ010",
];

/// The rule ids of the text-classification detectors, the scans a ledger records.
pub const CLASSIFICATION_RULES: [&str; 6] = ["BZ001", "BZ002", "BZ003", "BZ004", "BZ005", "BZ006"];

/// The rule id of the model gate's finding (a learned backdoor found by `bezoar probe`).
pub const MODEL_BACKDOOR_RULE: &str = "BZ101";

/// The identifiers a rule answers; empty for an unknown rule id.
pub fn for_rule(rule: &str) -> &'static [Ref] {
    RULES
        .iter()
        .find(|m| m.rule == rule)
        .map_or(&[], |m| m.refs)
}

/// A rule's identifiers grouped by framework key, for JSON outputs:
/// `{"mitre-atlas": [{"id": ..., "title": ...}], ...}`, frameworks in [`FRAMEWORKS`] order
/// (serde_json keeps insertion order only with `preserve_order`; without it keys are sorted,
/// which is just as deterministic).
pub fn rule_json(rule: &str) -> Value {
    let mut out = Map::new();
    for fw in FRAMEWORKS {
        let ids: Vec<Value> = for_rule(rule)
            .iter()
            .filter(|r| std::ptr::eq(r.framework, fw))
            .map(|r| json!({ "id": r.id, "title": r.title }))
            .collect();
        if !ids.is_empty() {
            out.insert(fw.key.to_string(), Value::Array(ids));
        }
    }
    Value::Object(out)
}

/// The catalogue of frameworks (key, name, edition, source), for JSON outputs.
pub fn catalog_json() -> Value {
    Value::Array(
        FRAMEWORKS
            .iter()
            .map(|f| json!({ "key": f.key, "name": f.name, "version": f.version, "source": f.source }))
            .collect(),
    )
}

/// Which identifiers each framework's rules answer, deduplicated, for flat listings such as
/// CycloneDX properties: `(framework key, id)` in [`FRAMEWORKS`] order, then first use.
pub fn identifiers<'a>(
    rules: impl IntoIterator<Item = &'a str>,
) -> Vec<(&'static str, &'static str)> {
    let rules: Vec<&str> = rules.into_iter().collect();
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for fw in FRAMEWORKS {
        for rule in &rules {
            for r in for_rule(rule)
                .iter()
                .filter(|r| std::ptr::eq(r.framework, fw))
            {
                if !out.contains(&(fw.key, r.id)) {
                    out.push((fw.key, r.id));
                }
            }
        }
    }
    out
}

/// The whole mapping for the given rules: `{"catalog": [...], "rules": {"BZ001": {...}}}`.
pub fn mapping_json<'a>(rules: impl IntoIterator<Item = &'a str>) -> Value {
    let mut by_rule = Map::new();
    for rule in rules {
        by_rule.insert(rule.to_string(), rule_json(rule));
    }
    json!({ "catalog": catalog_json(), "rules": Value::Object(by_rule) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_maps_into_every_framework_once_per_identifier() {
        for m in RULES {
            for fw in FRAMEWORKS {
                assert!(
                    m.refs.iter().any(|r| std::ptr::eq(r.framework, fw)),
                    "{} has no {} identifier",
                    m.rule,
                    fw.name
                );
            }
            let mut ids: Vec<(&str, &str)> =
                m.refs.iter().map(|r| (r.framework.key, r.id)).collect();
            let n = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), n, "{} lists an identifier twice", m.rule);
        }
    }

    #[test]
    fn refs_are_listed_in_framework_order() {
        for m in RULES {
            let pos: Vec<usize> = m
                .refs
                .iter()
                .map(|r| {
                    FRAMEWORKS
                        .iter()
                        .position(|f| std::ptr::eq(*f, r.framework))
                        .unwrap()
                })
                .collect();
            assert!(pos.windows(2).all(|w| w[0] <= w[1]), "{}: {pos:?}", m.rule);
        }
    }

    #[test]
    fn identifiers_have_each_frameworks_shape() {
        for m in RULES {
            for r in m.refs {
                let ok = match r.framework.key {
                    "mitre-atlas" => r.id.starts_with("AML.T0") || r.id.starts_with("AML.M0"),
                    "owasp-llm" => r.id.starts_with("LLM") && r.id.ends_with(":2025"),
                    "owasp-ml" => r.id.starts_with("ML") && r.id.ends_with(":2023"),
                    "nist-ai-rmf" => ["GOVERN ", "MAP ", "MEASURE ", "MANAGE "]
                        .iter()
                        .any(|f| r.id.starts_with(f)),
                    "nist-csf" => r.id.len() == 8 && r.id.as_bytes()[2] == b'.',
                    "eu-ai-act" => r.id.starts_with("Art. "),
                    "iso-42001" => r.id.starts_with("A."),
                    other => panic!("unknown framework {other}"),
                };
                assert!(
                    ok,
                    "{}: {} is not a {} identifier",
                    m.rule, r.id, r.framework.name
                );
                assert!(!r.title.is_empty());
            }
        }
    }

    #[test]
    fn every_rule_in_use_has_a_mapping() {
        for rule in SCAN_RULES
            .iter()
            .chain(std::iter::once(&MODEL_BACKDOOR_RULE))
        {
            assert!(!for_rule(rule).is_empty(), "{rule} has no mapping");
        }
        assert_eq!(RULES.len(), SCAN_RULES.len() + 1);
    }

    #[test]
    fn unknown_rule_maps_to_nothing_and_json_groups_by_framework() {
        assert!(for_rule("BZ999").is_empty());
        let v = rule_json("BZ001");
        assert_eq!(v["mitre-atlas"][0]["id"], "AML.T0020");
        assert_eq!(v["owasp-llm"][0]["id"], "LLM04:2025");
        let m = mapping_json(["BZ006"]);
        assert_eq!(m["catalog"].as_array().unwrap().len(), FRAMEWORKS.len());
        assert_eq!(m["rules"]["BZ006"]["eu-ai-act"][0]["id"], "Art. 10(2)(b)");
    }
}
