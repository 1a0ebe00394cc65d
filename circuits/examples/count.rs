use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, SynthesisMode};
use gridproof_circuits::{statement::{BatchCircuit, BatchShape}, Fr};
use std::collections::BTreeMap;
fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let shape = BatchShape::new(args[0], args[1], 4).unwrap();
    let c = BatchCircuit::blank(shape);
    let g = c.constraint_groups();
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    let t = std::time::Instant::now();
    c.generate_constraints(cs.clone()).unwrap();
    let n = cs.num_constraints();
    println!("S={} T={} constraints={} per_reading={:.1} per_site={:.1} synth={:?}", args[0], args[1], n, n as f64/(args[0]*args[1]) as f64, n as f64/args[0] as f64, t.elapsed());
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    let mut prev: Option<(usize,String)> = None;
    for i in 0..=n { let name = g.name_of(i.min(n)).unwrap_or_default(); let _ = (&prev, i); let key = name.split(": ").last().unwrap().split(' ').filter(|w| w.parse::<usize>().is_err()).collect::<Vec<_>>().join(" "); if i < n { *by.entry(key).or_default() += 1; } prev = None; }
    for (k, v) in by { println!("  {k:30} {v:8}  per site {:.1}", v as f64 / args[0] as f64); }
}
