//! The R1CS matrices of a key's circuit, built once and kept in a compact form, so that each
//! proof synthesizes only its witness (issue 9: synthesizing with matrices took 1.04 s of an
//! 8.71 s proof at (64, 96), and the matrices must not cost a proof more than the floor allows).
//!
//! arkworks' `Matrix<Fr>` keeps every term as a 32-byte coefficient and an 8-byte index in a
//! vector per row: about 380 MiB at (64, 96), more than the prover can keep beside its key
//! within 1 GiB. [`ProverMatrices`] keeps each matrix as one array of 8-byte terms (a 4-byte
//! variable index and a 4-byte index into a table of the distinct coefficients) with one row
//! start per constraint: a fifth of the size.
//!
//! [`ProverMatrices::evaluate`] computes `<A_i, z>`, `<B_i, z>` and `<C_i, z>` for every
//! constraint `i` in parallel ([`RowValues`]); the satisfiability check is then `a_i * b_i ==
//! c_i`, and the QAP witness map starts from the same values ([`RowWitnessMap`]) instead of
//! walking arkworks' matrices a second time.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ark_ff::{FftField, Field, One, Zero};

use ark_groth16::r1cs_to_qap::LibsnarkReduction;
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::{Matrix, SynthesisError};
use rayon::prelude::*;

use crate::ceremony::reduction::CircomReduction;
use crate::Fr;

/// Why matrices could not be kept in the compact form, or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum MatricesError {
    /// Groth16 proves R1CS: exactly the three matrices A, B and C.
    #[error("the constraint system has {0} matrices; Groth16 needs the three of R1CS")]
    NotR1cs(usize),
    /// A, B and C must have a row per constraint each.
    #[error("matrix {matrix} has {rows} rows but A has {expected}")]
    RowCount {
        /// "B" or "C".
        matrix: &'static str,
        /// Its rows.
        rows: usize,
        /// A's rows.
        expected: usize,
    },
    /// A term names a variable the circuit does not have.
    #[error("a term refers to variable {variable} but the circuit has {num_variables} variables")]
    VariableOutOfRange {
        /// The variable's index.
        variable: usize,
        /// The circuit's variables (1 + public inputs + witness).
        num_variables: usize,
    },
    /// The compact form indexes with 32 bits.
    #[error("too large for the compact form: more than 2^32 {0}")]
    TooLarge(&'static str),
    /// The assignment is not of this circuit.
    #[error(
        "the assignment has {assignment} values but the circuit has {num_variables} variables"
    )]
    AssignmentLength {
        /// Values in the assignment.
        assignment: usize,
        /// The circuit's variables.
        num_variables: usize,
    },
    /// The row values must cover every constraint.
    #[error("row values of length {len} cannot hold {num_constraints} constraints")]
    ShortRows {
        /// The requested length.
        len: usize,
        /// The circuit's constraints.
        num_constraints: usize,
    },
}

/// The coefficient-table index of 1 (the most common coefficient: no multiplication).
const ONE: u32 = 0;
/// The coefficient-table index of -1 (a subtraction).
const MINUS_ONE: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Term {
    variable: u32,
    coefficient: u32,
}

/// One matrix in compressed sparse rows: row `i`'s terms are `terms[starts[i]..starts[i + 1]]`.
#[derive(Debug, Clone, Default)]
struct SparseRows {
    starts: Vec<u32>,
    terms: Vec<Term>,
}

impl SparseRows {
    fn row(&self, i: usize) -> &[Term] {
        &self.terms[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    fn heap_bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<u32>()
            + self.terms.capacity() * std::mem::size_of::<Term>()
    }
}

/// The R1CS matrices (A, B, C) of one circuit, compact; see the module documentation.
#[derive(Debug, Clone)]
pub struct ProverMatrices {
    num_variables: usize,
    coefficients: Vec<Fr>,
    matrices: [SparseRows; 3],
}

impl ProverMatrices {
    /// Compacts arkworks' R1CS matrices `[A, B, C]` of a circuit with `num_variables`
    /// variables (1 + public inputs + witness), checking that they fit together.
    pub fn from_r1cs(matrices: &[Matrix<Fr>], num_variables: usize) -> Result<Self, MatricesError> {
        let [a, b, c] = matrices else {
            return Err(MatricesError::NotR1cs(matrices.len()));
        };
        for (matrix, rows) in [("B", b), ("C", c)] {
            if rows.len() != a.len() {
                return Err(MatricesError::RowCount {
                    matrix,
                    rows: rows.len(),
                    expected: a.len(),
                });
            }
        }
        if num_variables > u32::MAX as usize {
            return Err(MatricesError::TooLarge("variables"));
        }
        let mut table = CoefficientTable::new();
        let mut compact = |rows: &Matrix<Fr>| -> Result<SparseRows, MatricesError> {
            let total: usize = rows.iter().map(Vec::len).sum();
            if total > u32::MAX as usize {
                return Err(MatricesError::TooLarge("terms in one matrix"));
            }
            let mut out = SparseRows {
                starts: Vec::with_capacity(rows.len() + 1),
                terms: Vec::with_capacity(total),
            };
            out.starts.push(0);
            for row in rows {
                for &(coefficient, variable) in row {
                    if variable >= num_variables {
                        return Err(MatricesError::VariableOutOfRange {
                            variable,
                            num_variables,
                        });
                    }
                    out.terms.push(Term {
                        variable: variable as u32,
                        coefficient: table.index_of(coefficient)?,
                    });
                }
                out.starts.push(out.terms.len() as u32);
            }
            Ok(out)
        };
        let matrices = [compact(a)?, compact(b)?, compact(c)?];
        Ok(ProverMatrices {
            num_variables,
            coefficients: table.values,
            matrices,
        })
    }

    /// Constraints (rows of each matrix).
    pub fn num_constraints(&self) -> usize {
        self.matrices[0].starts.len() - 1
    }

    /// Variables of the circuit: 1 + public inputs + witness.
    pub fn num_variables(&self) -> usize {
        self.num_variables
    }

    /// Non-zero terms of A, B and C together.
    pub fn num_terms(&self) -> usize {
        self.matrices.iter().map(|m| m.terms.len()).sum()
    }

    /// Distinct coefficients.
    pub fn num_coefficients(&self) -> usize {
        self.coefficients.len()
    }

    /// Memory held, in bytes (what keeping them beside the key costs).
    pub fn heap_bytes(&self) -> usize {
        self.coefficients.capacity() * std::mem::size_of::<Fr>()
            + self
                .matrices
                .iter()
                .map(SparseRows::heap_bytes)
                .sum::<usize>()
    }

    /// `<A_i, z>`, `<B_i, z>`, `<C_i, z>` for every constraint `i`, in parallel, each vector
    /// zero-padded to `len` (the QAP domain's size, so the witness map reuses them).
    pub fn evaluate(&self, z: &[Fr], len: usize) -> Result<RowValues, MatricesError> {
        if z.len() != self.num_variables {
            return Err(MatricesError::AssignmentLength {
                assignment: z.len(),
                num_variables: self.num_variables,
            });
        }
        let num_constraints = self.num_constraints();
        if len < num_constraints {
            return Err(MatricesError::ShortRows {
                len,
                num_constraints,
            });
        }
        let [a, b, c] = [0, 1, 2].map(|m| {
            let rows = &self.matrices[m];
            let mut values = vec![Fr::zero(); len];
            values[..num_constraints]
                .par_iter_mut()
                .enumerate()
                .with_min_len(1 << 12)
                .for_each(|(i, value)| *value = self.row_value(rows.row(i), z));
            values
        });
        Ok(RowValues {
            num_constraints,
            a,
            b,
            c,
        })
    }

    fn row_value(&self, terms: &[Term], z: &[Fr]) -> Fr {
        let mut sum = Fr::zero();
        for term in terms {
            // In range: `from_r1cs` checked every variable, `evaluate` the assignment's length.
            let value = z[term.variable as usize];
            match term.coefficient {
                ONE => sum += value,
                MINUS_ONE => sum -= value,
                k => sum += value * self.coefficients[k as usize],
            }
        }
        sum
    }
}

/// The distinct coefficients, 1 and -1 first.
struct CoefficientTable {
    values: Vec<Fr>,
    index: HashMap<Fr, u32>,
}

impl CoefficientTable {
    fn new() -> Self {
        let values = vec![Fr::one(), -Fr::one()];
        let index = values
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, i as u32))
            .collect();
        CoefficientTable { values, index }
    }

    fn index_of(&mut self, coefficient: Fr) -> Result<u32, MatricesError> {
        if let Some(&i) = self.index.get(&coefficient) {
            return Ok(i);
        }
        let i = u32::try_from(self.values.len())
            .map_err(|_| MatricesError::TooLarge("distinct coefficients"))?;
        self.values.push(coefficient);
        self.index.insert(coefficient, i);
        Ok(i)
    }
}

/// The values of every constraint's three linear combinations at one assignment, zero-padded
/// to the QAP domain: secret (they are functions of the witness).
pub struct RowValues {
    num_constraints: usize,
    a: Vec<Fr>,
    b: Vec<Fr>,
    c: Vec<Fr>,
}

impl RowValues {
    /// The first constraint `a_i * b_i = c_i` that does not hold (what `cs.is_satisfied()`
    /// checks), if any.
    pub fn first_unsatisfied(&self) -> Option<usize> {
        (0..self.num_constraints)
            .into_par_iter()
            .with_min_len(1 << 12)
            .find_first(|&i| self.a[i] * self.b[i] != self.c[i])
    }

    /// The padded length (the QAP domain's size).
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// Whether there are no values at all.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }
}

/// A QAP reduction's witness map (the `h` scalars of the proof) from the row values, the same
/// as its `R1CSToQAP::witness_map_from_matrices` on the matrices the values came from.
pub trait RowWitnessMap {
    /// `h` for a circuit with `num_inputs` instance variables (1 + public inputs) and
    /// `num_constraints` constraints, whose full assignment starts with `instance`.
    fn witness_map_from_rows(
        rows: RowValues,
        num_inputs: usize,
        num_constraints: usize,
        instance: &[Fr],
    ) -> Result<Vec<Fr>, SynthesisError>;
}

/// The constraint domain (constraints + one `input * 0 = 0` row per instance variable) and a
/// check that the row values were padded to it.
fn qap_domain(
    rows: &RowValues,
    num_inputs: usize,
    num_constraints: usize,
    instance: &[Fr],
) -> Result<GeneralEvaluationDomain<Fr>, SynthesisError> {
    let domain = GeneralEvaluationDomain::<Fr>::new(num_constraints + num_inputs)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    if rows.len() != domain.size()
        || rows.num_constraints != num_constraints
        || instance.len() < num_inputs
    {
        return Err(SynthesisError::Unsatisfiable);
    }
    Ok(domain)
}

/// The size of the QAP domain of a circuit: what [`ProverMatrices::evaluate`] pads to.
pub fn qap_domain_size(num_constraints: usize, num_inputs: usize) -> Option<usize> {
    GeneralEvaluationDomain::<Fr>::new(num_constraints + num_inputs).map(|d| d.size())
}

impl RowWitnessMap for LibsnarkReduction {
    /// arkworks' `LibsnarkReduction::witness_map_from_matrices`, step for step: `h` is
    /// `(AB - C) / Z` on the coset of the multiplicative generator, interpolated back.
    fn witness_map_from_rows(
        rows: RowValues,
        num_inputs: usize,
        num_constraints: usize,
        instance: &[Fr],
    ) -> Result<Vec<Fr>, SynthesisError> {
        let domain = qap_domain(&rows, num_inputs, num_constraints, instance)?;
        let RowValues {
            mut a,
            mut b,
            mut c,
            ..
        } = rows;
        a[num_constraints..num_constraints + num_inputs].copy_from_slice(&instance[..num_inputs]);
        let coset = domain
            .get_coset(Fr::GENERATOR)
            .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        for values in [&mut a, &mut b, &mut c] {
            domain.ifft_in_place(values);
            coset.fft_in_place(values);
        }
        let vanishing_inverse = domain
            .evaluate_vanishing_polynomial(Fr::GENERATOR)
            .inverse()
            .ok_or(SynthesisError::DivisionByZero)?;
        a.par_iter_mut()
            .zip(b.par_iter())
            .zip(c.par_iter())
            .for_each(|((a, b), c)| {
                *a *= b;
                *a -= c;
                *a *= vanishing_inverse;
            });
        drop((b, c));
        coset.ifft_in_place(&mut a);
        Ok(a)
    }
}

impl RowWitnessMap for CircomReduction {
    /// snarkjs' witness map: `AB - C` on the odd coset of the doubled domain, with `C` taken
    /// as `A * B` per constraint (the caller checked that it holds); see
    /// [`crate::ceremony::reduction`].
    fn witness_map_from_rows(
        rows: RowValues,
        num_inputs: usize,
        num_constraints: usize,
        instance: &[Fr],
    ) -> Result<Vec<Fr>, SynthesisError> {
        let domain = qap_domain(&rows, num_inputs, num_constraints, instance)?;
        let RowValues {
            mut a, b, mut c, ..
        } = rows;
        a[num_constraints..num_constraints + num_inputs].copy_from_slice(&instance[..num_inputs]);
        c.par_iter_mut()
            .zip(a.par_iter())
            .zip(b.par_iter())
            .for_each(|((c, a), b)| *c = *a * b);
        crate::ceremony::reduction::odd_coset_h(domain, a, b, c)
    }
}

/// The compact matrices of the circuit type a key proves, built on first use and shared by
/// every proof made with the key (and its clones), concurrent ones included: the first caller
/// builds, the others wait for it rather than build a second copy.
#[derive(Default)]
pub(crate) struct MatricesCache(Mutex<Option<(TypeId, Arc<ProverMatrices>)>>);

impl MatricesCache {
    /// The matrices cached for circuit type `C`, or `build`'s, then cached (replacing those of
    /// another circuit type, which a key of one shape proves only in tests).
    pub(crate) fn get_or_build<C: 'static, E>(
        &self,
        build: impl FnOnce() -> Result<ProverMatrices, E>,
    ) -> Result<Arc<ProverMatrices>, E> {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let circuit = TypeId::of::<C>();
        if let Some((cached, matrices)) = slot.as_ref() {
            if *cached == circuit {
                return Ok(Arc::clone(matrices));
            }
        }
        *slot = None;
        let matrices = Arc::new(build()?);
        *slot = Some((circuit, Arc::clone(&matrices)));
        Ok(matrices)
    }

    /// The cached matrices' memory, if any are cached.
    pub(crate) fn heap_bytes(&self) -> Option<usize> {
        let slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.as_ref().map(|(_, m)| m.heap_bytes())
    }
}

impl Clone for MatricesCache {
    fn clone(&self) -> Self {
        let slot = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        MatricesCache(Mutex::new(slot.clone()))
    }
}

impl std::fmt::Debug for MatricesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.heap_bytes() {
            Some(bytes) => write!(f, "MatricesCache(built, {bytes} bytes)"),
            None => write!(f, "MatricesCache(not built)"),
        }
    }
}

#[cfg(test)]
mod tests;
