use job_core::prelude::*;

#[job]
async fn fire_and_forget() {}

fn main() {}
