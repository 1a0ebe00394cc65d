//! Does a zkey belong to a circuit? Compares its dimensions and its A and B matrices with the
//! circuit's own, synthesized here in setup mode the way the development setup and the prover do.
//!
//! snarkjs numbers signals as arkworks numbers variables (0 = the constant one, then the public
//! inputs, then the witness) and, after the circuit's constraints, adds one row per instance
//! variable `i` with `A = signal i`, `B = C = 0`: arkworks' reductions add the same rows. The C
//! matrix is not in a zkey (it only shaped the IC and C points, which `snarkjs zkey verify`
//! recomputes from the r1cs and the powers of tau).

use ark_ff::Zero;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, Matrix, SynthesisError, SynthesisMode, R1CS_PREDICATE_LABEL,
};
use rayon::prelude::*;

use super::zkey::{MatrixId, Zkey};
use crate::prove::{new_constraint_system, untraced};
use crate::Fr;

/// The dimensions and the A and B matrices of a circuit: what a zkey must agree with.
#[derive(Debug, Clone)]
pub struct CircuitMatrices {
    /// Instance variables: the constant one and the public inputs.
    pub num_instance: usize,
    /// Witness variables.
    pub num_witness: usize,
    /// R1CS constraints of the circuit (without the instance rows).
    pub num_constraints: usize,
    /// The A matrix, one row per constraint, entries (coefficient, variable).
    pub a: Matrix<Fr>,
    /// The B matrix.
    pub b: Matrix<Fr>,
}

impl CircuitMatrices {
    /// Synthesizes `circuit` (no witness needed) in setup mode and keeps its A and B matrices.
    /// A circuit with constraints of another predicate than R1CS is refused.
    pub fn of<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<Self, SynthesisError> {
        let cs = new_constraint_system(SynthesisMode::Setup);
        untraced(|| circuit.generate_constraints(cs.clone()))?;
        cs.finalize();
        let mut all = cs.to_matrices()?;
        let matrices = all
            .remove(R1CS_PREDICATE_LABEL)
            .ok_or(SynthesisError::PredicateNotFound)?;
        if all.values().any(|m| m.iter().any(|rows| !rows.is_empty())) {
            return Err(SynthesisError::PredicateNotFound);
        }
        let mut matrices = matrices.into_iter();
        let (Some(a), Some(b)) = (matrices.next(), matrices.next()) else {
            return Err(SynthesisError::PredicateNotFound);
        };
        Ok(Self {
            num_instance: cs.num_instance_variables(),
            num_witness: cs.num_witness_variables(),
            num_constraints: cs.num_constraints(),
            a,
            b,
        })
    }

    /// All variables (snarkjs' nVars).
    pub fn num_variables(&self) -> usize {
        self.num_instance + self.num_witness
    }

    /// The FFT domain both setups use: the smallest power of two >= constraints + instance
    /// variables (snarkjs: `2^(log2(nConstraints + nPublic) + 1)`, the same number).
    pub fn domain_size(&self) -> Option<usize> {
        (self.num_constraints + self.num_instance).checked_next_power_of_two()
    }

    /// Row `row` of `matrix` including the instance rows snarkjs appends.
    fn row(&self, matrix: MatrixId, row: usize) -> Vec<(usize, Fr)> {
        if row < self.num_constraints {
            let m = match matrix {
                MatrixId::A => &self.a,
                MatrixId::B => &self.b,
            };
            m[row].iter().map(|&(value, var)| (var, value)).collect()
        } else {
            match matrix {
                MatrixId::A => vec![(row - self.num_constraints, Fr::from(1u64))],
                MatrixId::B => Vec::new(),
            }
        }
    }
}

/// How a zkey differs from the circuit it was meant for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CircuitMismatch {
    /// Another number of public inputs.
    #[error("the zkey has {zkey} public signals, the circuit {circuit_name} has {circuit} public inputs")]
    PublicInputs {
        /// nPublic of the zkey.
        zkey: usize,
        /// Public inputs of the circuit.
        circuit: usize,
        /// The circuit, e.g. "(4,8)".
        circuit_name: String,
    },
    /// Another number of variables.
    #[error("the zkey has {zkey} signals, the circuit {circuit_name} has {circuit} variables")]
    Variables {
        /// nVars of the zkey.
        zkey: usize,
        /// Variables of the circuit (the constant one included).
        circuit: usize,
        /// The circuit.
        circuit_name: String,
    },
    /// Another number of constraints.
    #[error("the zkey has {zkey} constraints, the circuit {circuit_name} has {circuit}")]
    Constraints {
        /// Constraints of the zkey (its rows minus the instance rows).
        zkey: usize,
        /// Constraints of the circuit.
        circuit: usize,
        /// The circuit.
        circuit_name: String,
    },
    /// Another FFT domain.
    #[error("the zkey's domain has {zkey} points, the circuit {circuit_name} needs {circuit}")]
    DomainSize {
        /// domainSize of the zkey.
        zkey: usize,
        /// The circuit's domain.
        circuit: usize,
        /// The circuit.
        circuit_name: String,
    },
    /// A coefficient of the zkey has another value than the circuit's.
    #[error("{matrix} coefficient #{index} (constraint {constraint}, signal {signal}) differs: the zkey was made for another circuit version or a tampered r1cs")]
    CoefficientDiffers {
        /// A or B.
        matrix: MatrixId,
        /// The coefficient's position in the zkey's coefficients section.
        index: usize,
        /// Its row.
        constraint: usize,
        /// Its column.
        signal: usize,
    },
    /// The zkey has a term the circuit does not.
    #[error("{matrix} coefficient #{index} (constraint {constraint}, signal {signal}) is not in the circuit {circuit_name}: the zkey was made for another circuit version or a tampered r1cs")]
    ExtraTerm {
        /// A or B.
        matrix: MatrixId,
        /// The coefficient's position in the zkey.
        index: usize,
        /// Its row.
        constraint: usize,
        /// Its column.
        signal: usize,
        /// The circuit.
        circuit_name: String,
    },
    /// The circuit has a term the zkey does not.
    #[error("constraint {constraint} of the circuit {circuit_name} has a term on signal {signal} in {matrix} that the zkey lacks: the zkey was made for another circuit version or a tampered r1cs")]
    MissingTerm {
        /// A or B.
        matrix: MatrixId,
        /// The row.
        constraint: usize,
        /// The column.
        signal: usize,
        /// The circuit.
        circuit_name: String,
    },
}

/// One matrix entry with the position of the zkey coefficient it came from.
type Term = (usize, Fr, usize);

/// Sorts terms by signal, adds up repeated signals and drops zeros: two rows that compute the
/// same linear combination compare equal (the first position of a repeated signal is kept).
fn normalize(mut terms: Vec<Term>) -> Vec<Term> {
    terms.sort_by_key(|&(signal, _, index)| (signal, index));
    let mut out: Vec<Term> = Vec::with_capacity(terms.len());
    for (signal, value, index) in terms {
        match out.last_mut() {
            Some(last) if last.0 == signal => last.1 += value,
            _ => out.push((signal, value, index)),
        }
    }
    out.retain(|(_, value, _)| !value.is_zero());
    out
}

/// Checks that `zkey` was made for the circuit of `matrices`: the same numbers of public inputs,
/// variables and constraints, the same domain, and the same A and B matrices (as linear
/// combinations: the order of the terms within a row does not matter). `circuit_name` names
/// the circuit in the error, e.g. "(4,8)".
pub fn check_zkey_matches(
    zkey: &Zkey,
    matrices: &CircuitMatrices,
    circuit_name: &str,
) -> Result<(), CircuitMismatch> {
    let name = || circuit_name.to_string();
    let public_inputs = matrices.num_instance - 1;
    if zkey.num_public != public_inputs {
        return Err(CircuitMismatch::PublicInputs {
            zkey: zkey.num_public,
            circuit: public_inputs,
            circuit_name: name(),
        });
    }
    if zkey.num_vars != matrices.num_variables() {
        return Err(CircuitMismatch::Variables {
            zkey: zkey.num_vars,
            circuit: matrices.num_variables(),
            circuit_name: name(),
        });
    }
    // The zkey does not store its constraint count: its last row is the instance row of the
    // last public signal, at nConstraints + nPublic.
    let zkey_rows = zkey
        .coefficients
        .par_iter()
        .map(|c| c.constraint as usize + 1)
        .max()
        .unwrap_or(0);
    let zkey_constraints = zkey_rows.saturating_sub(matrices.num_instance);
    if zkey_constraints != matrices.num_constraints {
        return Err(CircuitMismatch::Constraints {
            zkey: zkey_constraints,
            circuit: matrices.num_constraints,
            circuit_name: name(),
        });
    }
    let domain = matrices.domain_size().unwrap_or(usize::MAX);
    if zkey.domain_size != domain {
        return Err(CircuitMismatch::DomainSize {
            zkey: zkey.domain_size,
            circuit: domain,
            circuit_name: name(),
        });
    }

    // Group the zkey's coefficients by (row, matrix): a counting sort into slots 2 * row + m.
    let rows = matrices.num_constraints + matrices.num_instance;
    let slot = |constraint: u32, matrix: MatrixId| {
        2 * constraint as usize + usize::from(matrix == MatrixId::B)
    };
    let mut starts = vec![0usize; 2 * rows + 1];
    for c in &zkey.coefficients {
        // Every constraint index is below zkey_rows = rows (checked above).
        starts[slot(c.constraint, c.matrix) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0usize; zkey.coefficients.len()];
    for (index, c) in zkey.coefficients.iter().enumerate() {
        let s = slot(c.constraint, c.matrix);
        order[next[s]] = index;
        next[s] += 1;
    }

    let mismatch = (0..2 * rows).into_par_iter().find_map_first(|s| {
        let (row, matrix) = (s / 2, if s % 2 == 0 { MatrixId::A } else { MatrixId::B });
        let ours = normalize(
            order[starts[s]..starts[s + 1]]
                .iter()
                .map(|&index| {
                    let c = &zkey.coefficients[index];
                    (c.signal as usize, c.value, index)
                })
                .collect(),
        );
        let theirs = normalize(
            matrices
                .row(matrix, row)
                .into_iter()
                .map(|(signal, value)| (signal, value, 0))
                .collect(),
        );
        compare_row(&ours, &theirs, matrix, row, circuit_name)
    });
    match mismatch {
        Some(m) => Err(m),
        None => Ok(()),
    }
}

fn compare_row(
    zkey: &[Term],
    circuit: &[Term],
    matrix: MatrixId,
    constraint: usize,
    circuit_name: &str,
) -> Option<CircuitMismatch> {
    let mut z = zkey.iter();
    let mut c = circuit.iter();
    loop {
        match (z.next(), c.next()) {
            (None, None) => return None,
            (Some(&(signal, value, index)), Some(&(their_signal, their_value, _))) => {
                if signal < their_signal {
                    return Some(extra(matrix, index, constraint, signal, circuit_name));
                }
                if signal > their_signal {
                    return Some(missing(matrix, constraint, their_signal, circuit_name));
                }
                if value != their_value {
                    return Some(CircuitMismatch::CoefficientDiffers {
                        matrix,
                        index,
                        constraint,
                        signal,
                    });
                }
            }
            (Some(&(signal, _, index)), None) => {
                return Some(extra(matrix, index, constraint, signal, circuit_name))
            }
            (None, Some(&(signal, _, _))) => {
                return Some(missing(matrix, constraint, signal, circuit_name))
            }
        }
    }
}

fn extra(
    matrix: MatrixId,
    index: usize,
    constraint: usize,
    signal: usize,
    circuit_name: &str,
) -> CircuitMismatch {
    CircuitMismatch::ExtraTerm {
        matrix,
        index,
        constraint,
        signal,
        circuit_name: circuit_name.to_string(),
    }
}

fn missing(
    matrix: MatrixId,
    constraint: usize,
    signal: usize,
    circuit_name: &str,
) -> CircuitMismatch {
    CircuitMismatch::MissingTerm {
        matrix,
        constraint,
        signal,
        circuit_name: circuit_name.to_string(),
    }
}
