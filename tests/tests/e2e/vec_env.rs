//! Vector env semantics: the three autoreset modes match Gymnasium's, and errors surface.

use spelunk_core::{Action, AutoReset, ObsBuf, VecEnv, VecEnvConfig};

/// Empty-5x5: start (1,1) facing east, goal (3,3): reached on the 5th step.
const TO_GOAL: [i64; 5] = [2, 2, 1, 2, 2];

fn venv(mode: AutoReset, threads: usize) -> VecEnv {
    let reg = spelunk_envs::registry();
    VecEnv::from_fn(3, VecEnvConfig { num_threads: threads, autoreset: mode }, |_| {
        reg.make("MiniGrid-Empty-5x5-v0")
    })
    .expect("venv")
}

fn reference_obs(actions: &[i64]) -> Vec<u8> {
    let mut env = spelunk_envs::registry().make("MiniGrid-Empty-5x5-v0").expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    for &a in actions {
        env.step(Action::Discrete(a), obs.as_mut()).expect("step");
    }
    obs.as_u8().expect("bytes").to_vec()
}

#[test]
fn next_step_autoreset_resets_on_the_following_step() {
    for threads in [1, 2] {
        let mut v = venv(AutoReset::NextStep, threads);
        v.reset(Some(0)).expect("reset");
        let start = v.obs_u8().expect("bytes")[..148].to_vec();
        for &a in &TO_GOAL {
            v.step_discrete(&[a, 0, 0]).expect("step");
        }
        assert!(v.terminated()[0] && v.rewards()[0] > 0.9);
        assert_eq!(
            &v.obs_u8().expect("bytes")[..148],
            reference_obs(&TO_GOAL).as_slice(),
            "final obs stays visible"
        );
        // The next step ignores env 0's action, resets it, reports reward 0 and no flags.
        v.step_discrete(&[2, 0, 0]).expect("step");
        assert_eq!((v.rewards()[0], v.terminated()[0], v.truncated()[0]), (0.0, false, false));
        assert_eq!(
            &v.obs_u8().expect("bytes")[..148],
            start.as_slice(),
            "Empty-5x5 restarts at the same state"
        );
        assert!(v.final_obs(0).is_none());
    }
}

#[test]
fn same_step_autoreset_keeps_the_final_observation_aside() {
    let mut v = venv(AutoReset::SameStep, 2);
    v.reset(Some(0)).expect("reset");
    let start = v.obs_u8().expect("bytes")[..148].to_vec();
    for &a in &TO_GOAL {
        v.step_discrete(&[a, 1, 1]).expect("step");
    }
    assert!(v.terminated()[0] && v.rewards()[0] > 0.9);
    let final_obs = v.final_obs(0).expect("final obs");
    assert_eq!(final_obs.as_u8().expect("bytes"), reference_obs(&TO_GOAL).as_slice());
    assert!(v.final_info(0).is_some_and(|i| i.is_success == Some(true)));
    assert_eq!(
        &v.obs_u8().expect("bytes")[..148],
        start.as_slice(),
        "obs is the new episode's first"
    );
    assert!(v.final_obs(1).is_none());
}

#[test]
fn disabled_autoreset_reports_errors_until_reset_env() {
    let mut v = venv(AutoReset::Disabled, 1);
    v.reset(Some(0)).expect("reset");
    for &a in &TO_GOAL {
        v.step_discrete(&[a, 0, 0]).expect("step");
    }
    let e = v.step_discrete(&[2, 0, 0]).expect_err("finished env stepped");
    assert!(e.to_string().contains("reset"), "{e}");
    v.reset_env(0, None).expect("reset env 0");
    v.step_discrete(&[2, 0, 0]).expect("steps again");
}

#[test]
fn bad_batches_are_errors() {
    let mut v = venv(AutoReset::NextStep, 2);
    v.reset(Some(0)).expect("reset");
    assert!(v.step_discrete(&[0, 0]).is_err(), "too few actions");
    assert!(v
        .step_discrete(&[0, 0, 9])
        .expect_err("out of range")
        .to_string()
        .contains("Discrete(7)"));
    let reg = spelunk_envs::registry();
    let mixed = VecEnv::new(
        vec![
            reg.make("MiniGrid-Empty-5x5-v0").expect("make"),
            reg.make("Montezuma-Lite-v0").expect("make"),
        ],
        VecEnvConfig::default(),
    );
    assert!(mixed.err().expect("mixed spaces").to_string().contains("spaces"));
    assert!(VecEnv::new(Vec::new(), VecEnvConfig::default()).is_err());
}

#[test]
fn with_env_reaches_each_env_between_steps() {
    let mut v = venv(AutoReset::NextStep, 2);
    v.reset(Some(10)).expect("reset");
    let ids: Vec<String> =
        (0..3).map(|i| v.with_env(i, |e| e.id().to_owned()).expect("env")).collect();
    assert!(ids.iter().all(|i| i == "MiniGrid-Empty-5x5-v0"));
    assert!(v.with_env(3, |_| ()).is_err());
    let snap = v.with_env(2, |e| e.snapshot()).expect("env").expect("snapshot");
    v.with_env(0, |e| e.restore(&snap)).expect("env").expect("restore");
}
