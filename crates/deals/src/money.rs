//! Exact money for shares: a total in whole won split over `n` shares so that the shares add up
//! to the total exactly and differ by at most one won. The first `total % n` shares carry the
//! extra won, so the split is the same every time.

/// The price of each share, in share order.
pub fn split(total: i64, shares: u32) -> Vec<i64> {
    assert!(shares > 0, "at least one share");
    let n = i64::from(shares);
    let (base, extra) = (total / n, total % n);
    (0..n).map(|i| base + i64::from(i < extra)).collect()
}

/// The larger share price (what a deal advertises as "1인당").
pub fn share_price(total: i64, shares: u32) -> i64 {
    let n = i64::from(shares);
    total / n + i64::from(total % n != 0)
}

/// What each holding owes when holdings take consecutive shares in order (host first, then by
/// joining time): `holdings[i]` shares → `amounts[i]` won.
pub fn amounts(total: i64, shares: u32, holdings: &[u32]) -> Vec<i64> {
    let prices = split(total, shares);
    let mut next = 0usize;
    holdings
        .iter()
        .map(|&h| {
            let end = (next + h as usize).min(prices.len());
            let sum = prices[next..end].iter().sum();
            next = end;
            sum
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(split(10_000, 3), [3334, 3333, 3333]);
        assert_eq!(share_price(10_000, 3), 3334);
        assert_eq!(split(9_000, 3), [3000, 3000, 3000]);
        assert_eq!(share_price(9_000, 3), 3000);
        assert_eq!(amounts(10_000, 3, &[1, 2]), [3334, 6666]);
    }

    proptest! {
        #[test]
        fn shares_add_up_and_differ_by_at_most_one(total in 100i64..=10_000_000, shares in 2u32..=100) {
            let s = split(total, shares);
            prop_assert_eq!(s.len(), shares as usize);
            prop_assert_eq!(s.iter().sum::<i64>(), total);
            let (min, max) = (*s.iter().min().unwrap(), *s.iter().max().unwrap());
            prop_assert!(max - min <= 1);
            prop_assert_eq!(max, share_price(total, shares));
            prop_assert_eq!(split(total, shares), s, "deterministic");
        }

        #[test]
        fn full_holdings_pay_exactly_the_total(total in 100i64..=10_000_000, holdings in proptest::collection::vec(1u32..=10, 1..=10)) {
            let shares: u32 = holdings.iter().sum();
            prop_assume!(shares >= 2);
            let a = amounts(total, shares, &holdings);
            prop_assert_eq!(a.iter().sum::<i64>(), total);
            for (amount, h) in a.iter().zip(&holdings) {
                let low = (total / i64::from(shares)) * i64::from(*h);
                prop_assert!(*amount >= low && *amount <= low + i64::from(*h));
            }
        }
    }
}
