//! URDF robot descriptions: a parser for the part of the format a simulated arm needs, with
//! errors that name the file, line, column, element and reason.
//!
//! Read: `<robot>`, its `<link>`s (`<inertial>` origin, mass and inertia; `<collision>` and
//! `<visual>` boxes, cylinders and spheres with their origins) and `<joint>`s (`revolute`,
//! `continuous`, `prismatic`, `fixed`; `<origin xyz rpy>`, `<parent>`, `<child>`, `<axis>`,
//! `<limit lower upper effort velocity>`, `<dynamics damping>`). Lengths are metres, angles
//! radians, `rpy` is roll about x, then pitch about y, then yaw about z, in fixed axes (URDF's
//! convention). Meshes are refused with a clear error: only primitive shapes are simulated.
//! Elements this module does not use (`<material>`, `<transmission>`, `<gazebo>`, ...) are
//! skipped.
//!
//! Checks: one root link; every joint's parent and child exist; no link has two parents; no
//! cycles; masses and inertias positive and finite; limits ordered, efforts positive; axes
//! non-zero. Magnitudes are bounded so that the physics and inverse kinematics stay finite
//! and quick (each bound is in [`bounds`] and named in the message): at most
//! [`bounds::MAX_LINKS`] links, sizes and origins within [`bounds::MAX_LENGTH`] m, masses,
//! inertias, efforts, speeds, limits and damping within their ranges.

use rapier3d::prelude::{Pose, Rotation, Vector};

/// The magnitudes a URDF may have. A 1e30 kg link, a 1e-30 kg·m² inertia or a 1e10 m box
/// loads but makes the joint motors' limits NaN on the first step; a joint origin 1e20 m away
/// never lets inverse kinematics converge; 10,000 links take minutes and gigabytes. These
/// bounds are far beyond any desk or industrial arm.
pub mod bounds {
    /// Links in one robot.
    pub const MAX_LINKS: usize = 256;
    /// Shape sizes, radii, lengths, and every coordinate of an origin, m.
    pub const MAX_LENGTH: f32 = 10.0;
    /// The smallest shape size, radius or length, m.
    pub const MIN_LENGTH: f32 = 1e-4;
    /// Link masses, kg.
    pub const MASS: [f32; 2] = [1e-4, 1e4];
    /// Principal moments of inertia, kg·m².
    pub const INERTIA: [f32; 2] = [1e-9, 1e4];
    /// Joint effort, N·m or N.
    pub const MAX_EFFORT: f32 = 1e5;
    /// Joint speed, rad/s or m/s.
    pub const MAX_VELOCITY: f32 = 1e3;
    /// Joint limits, rad or m, in magnitude.
    pub const MAX_LIMIT: f32 = 1e3;
    /// Joint damping.
    pub const MAX_DAMPING: f32 = 1e6;
}
use spelunk_core::{Error, Result};
use std::collections::HashMap;

/// A collision or visual shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Geometry {
    /// Full side lengths, m.
    Box([f32; 3]),
    /// A cylinder along the local z axis.
    Cylinder {
        /// Radius, m.
        radius: f32,
        /// Full length, m.
        length: f32,
    },
    /// A sphere.
    Sphere {
        /// Radius, m.
        radius: f32,
    },
}

/// A shape placed in its link's frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// The shape.
    pub geometry: Geometry,
    /// Its pose in the link frame.
    pub origin: Pose,
}

/// A rigid link.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// Name.
    pub name: String,
    /// Mass, kg (`None`: no `<inertial>`; the link then takes its mass from its shapes).
    pub mass: Option<f32>,
    /// Centre of mass in the link frame.
    pub com: Vector,
    /// Principal moments `ixx, iyy, izz`, kg·m² (the products of inertia are ignored).
    pub inertia: Option<[f32; 3]>,
    /// Collision shapes.
    pub collisions: Vec<Shape>,
    /// Visual shapes.
    pub visuals: Vec<Shape>,
}

/// Joint type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JointKind {
    /// A hinge with limits.
    Revolute,
    /// A hinge without limits.
    Continuous,
    /// A slider with limits.
    Prismatic,
    /// Rigid.
    Fixed,
}

/// A joint between two links.
#[derive(Clone, Debug, PartialEq)]
pub struct Joint {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: JointKind,
    /// Parent link index into [`Robot::links`].
    pub parent: usize,
    /// Child link index.
    pub child: usize,
    /// The joint frame in the parent link frame (the child link frame at zero position).
    pub origin: Pose,
    /// The joint axis in the joint frame (unit length).
    pub axis: Vector,
    /// Lower and upper position limits (rad or m); `None` for continuous and fixed joints.
    pub limits: Option<[f32; 2]>,
    /// Largest torque or force of the joint's actuator (N·m or N).
    pub effort: f32,
    /// Largest speed (rad/s or m/s).
    pub velocity: f32,
    /// Viscous damping.
    pub damping: f32,
}

/// A parsed robot: links and joints in file order, plus the root link.
#[derive(Clone, Debug, PartialEq)]
pub struct Robot {
    /// `<robot name>`.
    pub name: String,
    /// Links, in file order.
    pub links: Vec<Link>,
    /// Joints, in file order.
    pub joints: Vec<Joint>,
    /// Index of the link no joint has as its child.
    pub root: usize,
}

impl Robot {
    /// The index of a link by name.
    pub fn link(&self, name: &str) -> Option<usize> {
        self.links.iter().position(|l| l.name == name)
    }

    /// The index of a joint by name.
    pub fn joint(&self, name: &str) -> Option<usize> {
        self.joints.iter().position(|j| j.name == name)
    }

    /// Parse a URDF file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = spelunk_core::files::read_text(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse URDF text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let doc = roxmltree::Document::parse(text).map_err(|e| {
            let p = e.pos();
            Error::Parse {
                source_name: source.into(),
                line: p.row as usize,
                column: p.col as usize,
                message: format!("not well-formed XML: {e}"),
            }
        })?;
        Parser { doc: &doc, source }.robot()
    }
}

struct Parser<'a, 'i> {
    doc: &'a roxmltree::Document<'i>,
    source: &'a str,
}

/// `<joint name="elbow">` for messages.
fn describe(n: roxmltree::Node<'_, '_>) -> String {
    match n.attribute("name") {
        Some(name) => format!("<{} name=\"{name}\">", n.tag_name().name()),
        None => format!("<{}>", n.tag_name().name()),
    }
}

impl<'i> Parser<'_, 'i> {
    fn err(&self, n: roxmltree::Node<'_, 'i>, message: impl std::fmt::Display) -> Error {
        let p = self.doc.text_pos_at(n.range().start);
        Error::Parse {
            source_name: self.source.into(),
            line: p.row as usize,
            column: p.col as usize,
            message: format!("{}: {message}", describe(n)),
        }
    }

    fn attr<'a>(&self, n: roxmltree::Node<'a, 'i>, name: &str) -> Result<&'a str> {
        n.attribute(name).ok_or_else(|| self.err(n, format!("missing attribute `{name}`")))
    }

    fn floats<const N: usize>(&self, n: roxmltree::Node<'_, 'i>, name: &str) -> Result<[f32; N]> {
        let text = self.attr(n, name)?;
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != N {
            return Err(self
                .err(n, format!("`{name}` needs {N} numbers, got {} (\"{text}\")", parts.len())));
        }
        let mut out = [0f32; N];
        for (o, p) in out.iter_mut().zip(&parts) {
            *o =
                p.parse::<f32>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                    self.err(n, format!("`{name}`: \"{p}\" is not a finite number"))
                })?;
        }
        Ok(out)
    }

    fn float_or(&self, n: roxmltree::Node<'_, 'i>, name: &str, default: f32) -> Result<f32> {
        if n.attribute(name).is_none() {
            return Ok(default);
        }
        Ok(self.floats::<1>(n, name)?[0])
    }

    fn child<'a>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
        n.children().find(|c| c.is_element() && c.tag_name().name() == tag)
    }

    /// `<origin xyz rpy>` (identity when absent).
    fn origin(&self, parent: roxmltree::Node<'_, 'i>) -> Result<Pose> {
        let Some(o) = Self::child(parent, "origin") else { return Ok(Pose::IDENTITY) };
        let xyz = if o.attribute("xyz").is_some() { self.floats::<3>(o, "xyz")? } else { [0.0; 3] };
        if xyz.iter().any(|v| v.abs() > bounds::MAX_LENGTH) {
            return Err(self.err(
                o,
                format!("`xyz` {xyz:?} is more than {} m from its frame", bounds::MAX_LENGTH),
            ));
        }
        let rpy = if o.attribute("rpy").is_some() { self.floats::<3>(o, "rpy")? } else { [0.0; 3] };
        Ok(Pose::from_parts(Vector::from(xyz), rpy_rotation(rpy)))
    }

    fn shape(&self, n: roxmltree::Node<'_, 'i>) -> Result<Shape> {
        let g = Self::child(n, "geometry").ok_or_else(|| self.err(n, "no <geometry>"))?;
        let s = g
            .children()
            .find(roxmltree::Node::is_element)
            .ok_or_else(|| self.err(g, "empty; expected <box>, <cylinder> or <sphere>"))?;
        let positive = |v: f32, what: &str| -> Result<f32> {
            if v <= 0.0 {
                Err(self.err(s, format!("`{what}` must be positive, got {v}")))
            } else if !(bounds::MIN_LENGTH..=bounds::MAX_LENGTH).contains(&v) {
                Err(self.err(
                    s,
                    format!(
                        "`{what}` = {v} m is outside [{}, {}] m",
                        bounds::MIN_LENGTH,
                        bounds::MAX_LENGTH
                    ),
                ))
            } else {
                Ok(v)
            }
        };
        let geometry = match s.tag_name().name() {
            "box" => {
                let size = self.floats::<3>(s, "size")?;
                for v in size {
                    positive(v, "size")?;
                }
                Geometry::Box(size)
            }
            "cylinder" => Geometry::Cylinder {
                radius: positive(self.floats::<1>(s, "radius")?[0], "radius")?,
                length: positive(self.floats::<1>(s, "length")?[0], "length")?,
            },
            "sphere" => {
                Geometry::Sphere { radius: positive(self.floats::<1>(s, "radius")?[0], "radius")? }
            }
            "mesh" => return Err(self.err(
                s,
                "meshes are not simulated; describe the link with <box>, <cylinder> or <sphere>",
            )),
            other => {
                return Err(self.err(
                    s,
                    format!("unknown geometry `{other}`; expected box, cylinder or sphere"),
                ))
            }
        };
        Ok(Shape { geometry, origin: self.origin(n)? })
    }

    fn link(&self, n: roxmltree::Node<'_, 'i>) -> Result<Link> {
        let name = self.attr(n, "name")?.to_owned();
        let mut link = Link {
            name,
            mass: None,
            com: Vector::ZERO,
            inertia: None,
            collisions: Vec::new(),
            visuals: Vec::new(),
        };
        for c in n.children().filter(roxmltree::Node::is_element) {
            match c.tag_name().name() {
                "inertial" => {
                    let m = Self::child(c, "mass").ok_or_else(|| self.err(c, "no <mass>"))?;
                    let mass = self.floats::<1>(m, "value")?[0];
                    if mass <= 0.0 {
                        return Err(self.err(m, format!("mass must be positive, got {mass}")));
                    }
                    let [lo, hi] = bounds::MASS;
                    if !(lo..=hi).contains(&mass) {
                        return Err(
                            self.err(m, format!("mass {mass} kg is outside [{lo}, {hi}] kg"))
                        );
                    }
                    link.mass = Some(mass);
                    link.com = self.origin(c)?.translation;
                    if let Some(i) = Self::child(c, "inertia") {
                        let d = [
                            self.floats::<1>(i, "ixx")?[0],
                            self.floats::<1>(i, "iyy")?[0],
                            self.floats::<1>(i, "izz")?[0],
                        ];
                        if d.iter().any(|&x| x <= 0.0) {
                            return Err(
                                self.err(i, format!("ixx, iyy, izz must be positive, got {d:?}"))
                            );
                        }
                        let [lo, hi] = bounds::INERTIA;
                        if d.iter().any(|x| !(lo..=hi).contains(x)) {
                            return Err(self.err(
                                i,
                                format!("ixx, iyy, izz {d:?} kg·m² are not all in [{lo}, {hi}]"),
                            ));
                        }
                        link.inertia = Some(d);
                    }
                }
                "collision" => link.collisions.push(self.shape(c)?),
                "visual" => link.visuals.push(self.shape(c)?),
                _ => {}
            }
        }
        Ok(link)
    }

    fn robot(&self) -> Result<Robot> {
        let root = self.doc.root_element();
        if root.tag_name().name() != "robot" {
            return Err(self.err(root, "the top element must be <robot>"));
        }
        let name = root.attribute("name").unwrap_or("robot").to_owned();
        let mut links: Vec<Link> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for n in root.children().filter(|c| c.is_element() && c.tag_name().name() == "link") {
            if links.len() == bounds::MAX_LINKS {
                return Err(self.err(n, format!("more than {} links", bounds::MAX_LINKS)));
            }
            let link = self.link(n)?;
            if index.insert(link.name.clone(), links.len()).is_some() {
                return Err(self.err(n, "a second link with this name"));
            }
            links.push(link);
        }
        if links.is_empty() {
            return Err(self.err(root, "no <link> elements"));
        }
        let mut joints = Vec::new();
        let mut parent_of: Vec<Option<usize>> = vec![None; links.len()];
        let mut names = std::collections::HashSet::new();
        for n in root.children().filter(|c| c.is_element() && c.tag_name().name() == "joint") {
            let jname = self.attr(n, "name")?.to_owned();
            if !names.insert(jname.clone()) {
                return Err(self.err(n, "a second joint with this name"));
            }
            let kind = match self.attr(n, "type")? {
                "revolute" => JointKind::Revolute,
                "continuous" => JointKind::Continuous,
                "prismatic" => JointKind::Prismatic,
                "fixed" => JointKind::Fixed,
                other => {
                    return Err(self.err(
                        n,
                        format!(
                            "joint type `{other}` is not supported; use revolute, continuous, \
                             prismatic or fixed"
                        ),
                    ))
                }
            };
            let end = |tag: &str| -> Result<usize> {
                let e = Self::child(n, tag).ok_or_else(|| self.err(n, format!("no <{tag}>")))?;
                let l = self.attr(e, "link")?;
                index.get(l).copied().ok_or_else(|| self.err(e, format!("no link named `{l}`")))
            };
            let (parent, child) = (end("parent")?, end("child")?);
            if parent == child {
                return Err(self.err(n, "parent and child are the same link"));
            }
            if let Some(p) = parent_of[child] {
                return Err(self.err(
                    n,
                    format!(
                        "link `{}` already has a parent (`{}`)",
                        links[child].name, links[p].name
                    ),
                ));
            }
            parent_of[child] = Some(parent);
            let axis = match Self::child(n, "axis") {
                Some(a) => {
                    let v = Vector::from(self.floats::<3>(a, "xyz")?);
                    if v.length() < 1e-6 {
                        return Err(self.err(a, "the axis is zero"));
                    }
                    v.normalize()
                }
                None => Vector::X,
            };
            let limit = Self::child(n, "limit");
            let moving = kind != JointKind::Fixed;
            let (limits, effort, velocity) = match (kind, limit) {
                (JointKind::Revolute | JointKind::Prismatic, None) => {
                    return Err(self.err(n, "a revolute or prismatic joint needs <limit>"))
                }
                (_, Some(l)) if moving => {
                    let effort = self.floats::<1>(l, "effort")?[0];
                    let velocity = self.floats::<1>(l, "velocity")?[0];
                    if effort <= 0.0 || velocity <= 0.0 {
                        return Err(self.err(
                            l,
                            format!(
                                "effort and velocity must be positive, got {effort} and {velocity}"
                            ),
                        ));
                    }
                    if effort > bounds::MAX_EFFORT || velocity > bounds::MAX_VELOCITY {
                        return Err(self.err(
                            l,
                            format!(
                                "effort {effort} and velocity {velocity} must be at most {} and {}",
                                bounds::MAX_EFFORT,
                                bounds::MAX_VELOCITY
                            ),
                        ));
                    }
                    let limits = if kind == JointKind::Continuous {
                        None
                    } else {
                        let lo = self.float_or(l, "lower", 0.0)?;
                        let hi = self.float_or(l, "upper", 0.0)?;
                        if lo > hi {
                            return Err(self.err(l, format!("lower ({lo}) is above upper ({hi})")));
                        }
                        if lo.abs().max(hi.abs()) > bounds::MAX_LIMIT {
                            return Err(self.err(
                                l,
                                format!("limits [{lo}, {hi}] go beyond ±{}", bounds::MAX_LIMIT),
                            ));
                        }
                        Some([lo, hi])
                    };
                    (limits, effort, velocity)
                }
                _ => (None, f32::INFINITY, f32::INFINITY),
            };
            let damping = match Self::child(n, "dynamics") {
                Some(d) => {
                    let v = self.float_or(d, "damping", 0.0)?.max(0.0);
                    if v > bounds::MAX_DAMPING {
                        return Err(
                            self.err(d, format!("damping {v} is above {}", bounds::MAX_DAMPING))
                        );
                    }
                    v
                }
                None => 0.0,
            };
            joints.push(Joint {
                name: jname,
                kind,
                parent,
                child,
                origin: self.origin(n)?,
                axis,
                limits,
                effort,
                velocity,
                damping,
            });
        }
        let roots: Vec<usize> = (0..links.len()).filter(|&i| parent_of[i].is_none()).collect();
        if roots.len() != 1 {
            let names: Vec<&str> = roots.iter().map(|&i| links[i].name.as_str()).collect();
            return Err(self.err(
                root,
                format!(
                    "the links must form one tree; {} links have no parent: {}",
                    roots.len(),
                    names.join(", ")
                ),
            ));
        }
        // One root and one parent per link: a cycle would leave some link unreachable.
        for (i, _) in links.iter().enumerate() {
            let mut at = i;
            for _ in 0..=links.len() {
                match parent_of[at] {
                    Some(p) => at = p,
                    None => break,
                }
            }
            if parent_of[at].is_some() {
                return Err(self.err(
                    root,
                    format!("the joints form a cycle through link `{}`", links[i].name),
                ));
            }
        }
        Ok(Robot { name, links, joints, root: roots[0] })
    }
}

/// URDF's `rpy`: roll about x, then pitch about y, then yaw about z (fixed axes), i.e.
/// `Rz(yaw)·Ry(pitch)·Rx(roll)`.
pub fn rpy_rotation(rpy: [f32; 3]) -> Rotation {
    Rotation::from_rotation_z(rpy[2])
        * Rotation::from_rotation_y(rpy[1])
        * Rotation::from_rotation_x(rpy[0])
}
