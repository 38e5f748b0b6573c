//! How an env's spaces become a dataset's features.

use serde_json::{json, Value};
use spelunk_core::{DType, Space};

use crate::{invalid, Result};

/// How one feature's values are stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An RGB picture, `[height, width, 3]`, values 0–255: PNG bytes (`dtype = "image"`).
    Image {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
    /// `n` float32 values (a scalar column for one, a fixed-size list otherwise).
    Floats(usize),
    /// `n` int64 values (discrete choices).
    Ints(usize),
    /// One UTF-8 string (a `Text` member).
    Text,
}

impl Kind {
    /// LeRobot's `dtype`.
    pub fn dtype(&self) -> &'static str {
        match self {
            Kind::Image { .. } => "image",
            Kind::Floats(_) => "float32",
            Kind::Ints(_) => "int64",
            Kind::Text => "string",
        }
    }
    /// LeRobot's `shape`.
    pub fn shape(&self) -> Vec<usize> {
        match *self {
            Kind::Image { height, width } => vec![height, width, 3],
            Kind::Floats(n) | Kind::Ints(n) => vec![n],
            Kind::Text => vec![1],
        }
    }
    /// The feature's entry in `meta/info.json`.
    pub fn info(&self) -> Value {
        let names = match self {
            Kind::Image { .. } => json!(["height", "width", "channels"]),
            _ => Value::Null,
        };
        json!({ "dtype": self.dtype(), "shape": self.shape(), "names": names })
    }
    /// Values this kind takes from a flat observation row.
    pub fn flat_len(&self) -> usize {
        match *self {
            Kind::Image { height, width } => height * width * 3,
            Kind::Floats(n) | Kind::Ints(n) => n,
            Kind::Text => 0,
        }
    }
}

/// One member of an env's observation (or its action) as a dataset feature.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    /// The feature's key (`observation.state`, `observation.image`, `action`, …).
    pub key: String,
    /// The member's name in the env's observation dict (empty for a flat observation).
    pub member: String,
    /// Where the member starts in the flat observation row.
    pub offset: usize,
    /// Its values in the flat row (a `Text` member's bytes).
    pub len: usize,
    /// How it is stored.
    pub kind: Kind,
}

/// The features of an env's episodes: the observation's members, then the action.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// One slot per observation member, in the space's order.
    pub observation: Vec<Slot>,
    /// The action.
    pub action: Slot,
}

/// Frame columns every dataset has besides the env's features, with their kinds.
pub(crate) const BOOKKEEPING: [(&str, &str); 5] = [
    ("timestamp", "float32"),
    ("frame_index", "int64"),
    ("episode_index", "int64"),
    ("index", "int64"),
    ("task_index", "int64"),
];

/// What a step gave, stored with the frame it was taken from.
pub(crate) const OUTCOMES: [(&str, &str); 3] =
    [("next.reward", "float32"), ("next.done", "bool"), ("next.success", "bool")];

impl Schema {
    /// The features of an env with these spaces. Members are mapped by name: `observation` →
    /// `observation.state`, an image member → `observation.image` (named `image`) or
    /// `observation.images.<name>`, anything else → `observation.<name>`; a flat observation is
    /// `observation.state` (or `observation.image`).
    ///
    /// # Errors
    /// A space with no dataset form (nested dicts).
    pub fn for_spaces(observation: &Space, action: &Space) -> Result<Self> {
        let mut slots = Vec::new();
        match observation {
            Space::Dict(members) => {
                let mut offset = 0;
                for (name, space) in members {
                    let kind = kind_of(space, name)?;
                    let key = match (&kind, name.as_str()) {
                        (Kind::Image { .. }, "image") => "observation.image".to_owned(),
                        (Kind::Image { .. }, _) => format!("observation.images.{name}"),
                        (_, "observation") => "observation.state".to_owned(),
                        _ => format!("observation.{name}"),
                    };
                    let len = space.flat_len();
                    slots.push(Slot { key, member: name.clone(), offset, len, kind });
                    offset += len;
                }
            }
            space => {
                let kind = kind_of(space, "observation")?;
                let key = if matches!(kind, Kind::Image { .. }) {
                    "observation.image"
                } else {
                    "observation.state"
                };
                slots.push(Slot {
                    key: key.to_owned(),
                    member: String::new(),
                    offset: 0,
                    len: space.flat_len(),
                    kind,
                });
            }
        }
        let action_kind = match kind_of(action, "action")? {
            Kind::Image { .. } => Kind::Floats(action.flat_len()),
            Kind::Text => return invalid("a text action space has no dataset form"),
            k => k,
        };
        let action = Slot {
            key: "action".to_owned(),
            member: String::new(),
            offset: 0,
            len: action.flat_len(),
            kind: action_kind,
        };
        Ok(Self { observation: slots, action })
    }

    /// `meta/info.json`'s `features`: the env's, the outcomes, then LeRobot's bookkeeping.
    pub fn features(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        for s in self.observation.iter().chain(std::iter::once(&self.action)) {
            map.insert(s.key.clone(), s.kind.info());
        }
        for (key, dtype) in OUTCOMES.iter().chain(&BOOKKEEPING) {
            map.insert((*key).to_owned(), json!({ "dtype": dtype, "shape": [1], "names": null }));
        }
        map
    }
}

fn kind_of(space: &Space, name: &str) -> Result<Kind> {
    Ok(match space {
        Space::Box { shape, low, high, dtype } => {
            let pixels = low.iter().all(|&l| l >= 0.0) && high.iter().all(|&h| h <= 255.0);
            if shape.len() == 3
                && shape[2] == 3
                && pixels
                && (*dtype == DType::U8 || is_image(name))
            {
                Kind::Image { height: shape[0], width: shape[1] }
            } else {
                Kind::Floats(space.flat_len())
            }
        }
        Space::Discrete { .. } => Kind::Ints(1),
        Space::MultiDiscrete { nvec } => Kind::Ints(nvec.len()),
        Space::MultiBinary { n } => Kind::Ints(*n),
        Space::Text { .. } => Kind::Text,
        Space::Dict(_) => {
            return invalid(format!("`{name}` is a dict inside a dict, which has no dataset form"))
        }
    })
}

/// Float boxes of pixel values are images when their member says so.
fn is_image(name: &str) -> bool {
    name == "image" || name.ends_with("_image") || name == "pixels" || name == "rgb"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_map_to_lerobot_keys() {
        let inf = f32::INFINITY;
        let obs = Space::Dict(vec![
            ("achieved_goal".into(), Space::uniform_box(&[3], -inf, inf, DType::F32)),
            ("image".into(), Space::uniform_box(&[8, 6, 3], 0.0, 255.0, DType::F32)),
            ("instruction".into(), Space::uniform_box(&[4], 0.0, 6.0, DType::F32)),
            ("direction".into(), Space::discrete(4)),
            ("observation".into(), Space::uniform_box(&[10], -inf, inf, DType::F32)),
        ]);
        let act = Space::uniform_box(&[4], -1.0, 1.0, DType::F32);
        let s = Schema::for_spaces(&obs, &act).unwrap();
        let keys: Vec<(&str, usize, Kind)> =
            s.observation.iter().map(|x| (x.key.as_str(), x.offset, x.kind.clone())).collect();
        assert_eq!(
            keys,
            vec![
                ("observation.achieved_goal", 0, Kind::Floats(3)),
                ("observation.image", 3, Kind::Image { height: 8, width: 6 }),
                ("observation.instruction", 3 + 144, Kind::Floats(4)),
                ("observation.direction", 151, Kind::Ints(1)),
                ("observation.state", 152, Kind::Floats(10)),
            ]
        );
        assert_eq!(s.action.kind, Kind::Floats(4));
        let f = s.features();
        assert_eq!(f["observation.image"]["dtype"], "image");
        assert_eq!(f["observation.image"]["shape"], json!([8, 6, 3]));
        assert_eq!(f["next.done"]["dtype"], "bool");
        assert_eq!(f["frame_index"]["dtype"], "int64");
        // A discrete action is one int64; a float box that is not an image stays floats.
        let s = Schema::for_spaces(
            &Space::uniform_box(&[2, 2, 3], -1.0, 1.0, DType::F32),
            &Space::discrete(7),
        )
        .unwrap();
        assert_eq!(s.observation[0].kind, Kind::Floats(12));
        assert_eq!(s.action.kind, Kind::Ints(1));
        let nested = Space::Dict(vec![("a".into(), Space::Dict(vec![]))]);
        let e = Schema::for_spaces(&nested, &Space::discrete(2)).unwrap_err();
        assert!(e.to_string().contains("`a`"), "{e}");
    }
}
