//! Run the scripted controller on a task and print its success rate.
//!
//! `cargo run --release -p spelunk-sims --example scripted -- [Arm-PickAndPlace-v0] [episodes]`
//!
//! `FIRST_SEED=k` starts at seed k; `ROBOT=fetch7`, `ROBOT=so100` or `ROBOT=path/arm.urdf`
//! drives a URDF arm (end-effector control) instead of the free gripper, `BASE=x,y,z` moves
//! its base, `DRIVE=kinematic` drives its links kinematically (`so100` takes the desk layout,
//! `LAYOUT=fetch` or `LAYOUT=desk` sets one);
//! `CONTROL=joints` or `CONTROL=joint_deltas` drives the URDF arm in joint space, each action
//! turned into that control's by [`ArmEnv::joint_action_for`] (as joint-space demonstrations
//! are recorded); `MEMORYLESS=1` runs [`Scripted::memoryless`]; `NOISE=σ` adds Gaussian noise
//! of that standard deviation to the motion it executes (DART's, as demonstrations are
//! recorded); `VERBOSE=1` prints each episode's end state, `VERBOSE=2` every step.

use spelunk_core::{Action, ObsMut};
use spelunk_sims::arm::{ArmConfig, ArmEnv, ArmTask, Layout, Scripted};
use spelunk_sims::robot::{Control, Drive, RobotConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let id = args.get(1).map_or("Arm-PickAndPlace-v0", String::as_str);
    let episodes: u64 = args.get(2).map_or(Ok(50), |s| s.parse())?;
    let task = match id {
        "Arm-Reach-v0" => ArmTask::Reach,
        "Arm-Push-v0" => ArmTask::Push,
        "Arm-PickAndPlace-v0" => ArmTask::PickAndPlace,
        "Arm-Slide-v0" => ArmTask::Slide,
        other => return Err(format!("unknown task {other}").into()),
    };
    let control = match std::env::var("CONTROL").as_deref() {
        Ok("joints") => Control::Joints,
        Ok("joint_deltas") => Control::JointDeltas,
        Ok("end_effector") | Err(_) => Control::EndEffector,
        Ok(other) => {
            return Err(format!("CONTROL={other}: end_effector, joints or joint_deltas").into())
        }
    };
    let robot = std::env::var("ROBOT").ok().map(|urdf| RobotConfig {
        urdf,
        base: std::env::var("BASE").ok().map(|b| {
            let v: Vec<f32> = b.split(',').filter_map(|x| x.parse().ok()).collect();
            [v[0], v[1], v[2]]
        }),
        drive: match std::env::var("DRIVE").as_deref() {
            Ok("kinematic") => Drive::Kinematic,
            _ => Drive::Dynamic,
        },
        control,
        ..RobotConfig::default()
    });
    let layout = match std::env::var("LAYOUT").as_deref() {
        Ok("fetch") => Some(Layout::Fetch),
        Ok("desk") => Some(Layout::Desk),
        Ok(other) => return Err(format!("LAYOUT={other}: fetch or desk").into()),
        Err(_) => None,
    };
    let mut env = ArmEnv::new(id, ArmConfig { task, robot, layout, ..ArmConfig::default() })?;
    let n = spelunk_core::Env::observation_space(&env).flat_len();
    let mut obs = vec![0f32; n];
    let mut solved = 0;
    let noise: f32 = std::env::var("NOISE").ok().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let mut rng = spelunk_core::Rng::seed_from_u64(0xda27);
    let first: u64 = std::env::var("FIRST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    for seed in first..first + episodes {
        spelunk_core::Env::reset(&mut env, Some(seed), None, ObsMut::F32(&mut obs))?;
        let mut ctl = if std::env::var_os("MEMORYLESS").is_some() {
            Scripted::memoryless()
        } else {
            Scripted::new()
        }
        .for_env(&env);
        let mut success = false;
        for _ in 0..50 {
            let mut a = ctl.act(task, &obs);
            for x in &mut a[..3] {
                *x = (*x + noise * rng.normal() as f32).clamp(-1.0, 1.0);
            }
            let a = match env.robot() {
                Some(_) if control != Control::EndEffector => {
                    env.joint_action_for(&a).ok_or("no joint-space action")?
                }
                _ => a.to_vec(),
            };
            let s =
                spelunk_core::Env::step(&mut env, Action::Continuous(&a), ObsMut::F32(&mut obs))?;
            success = s.info.is_success == Some(true);
            if std::env::var("VERBOSE").as_deref() == Ok("2") {
                println!(
                    "  a {a:?} grip {:?} fingers {:?} obj {:?} q {:.3?}",
                    env.grip_pos(),
                    env.fingers(),
                    env.object_pos(),
                    env.joint_positions()
                );
            }
        }
        if std::env::var_os("VERBOSE").is_some() {
            println!(
                "seed {seed}: success {success} obj {:?} goal {:?} grip {:?} fingers {:?}",
                env.object_pos(),
                env.goal(),
                env.grip_pos(),
                env.fingers()
            );
        }
        solved += u64::from(success);
    }
    println!("{id}: {solved}/{episodes} solved by the scripted controller");
    Ok(())
}
