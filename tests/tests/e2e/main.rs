//! End-to-end tests of the workspace, in one binary so the workspace links once.

mod minigrid_python;
