//! Task names in messages and logs, bounded however many tasks there are: the first few
//! distinct names in order, each with its count, and how many tasks are left unnamed.

use std::fmt;

/// How many distinct names a summary shows.
const SHOWN: usize = 5;

/// `wallet ×2, ledger, shard_0, shard_1, shard_2, and 397 more`: the first distinct names
/// of `names`, in order, with a count where a name comes more than once, then how many
/// tasks the names shown leave out. `none` if there are no names.
///
/// Written without allocating, in a few passes over the names.
#[derive(Clone)]
pub(crate) struct Names<I>(pub(crate) I);

impl<I> fmt::Display for Names<I>
where
    I: Iterator<Item = &'static str> + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown: [&str; SHOWN] = [""; SHOWN];
        let mut distinct = 0;
        for name in self.0.clone() {
            if distinct == SHOWN {
                break;
            }
            if !shown[..distinct].contains(&name) {
                shown[distinct] = name;
                distinct += 1;
            }
        }
        if distinct == 0 {
            return f.write_str("none");
        }
        let mut named = 0;
        for (i, name) in shown[..distinct].iter().enumerate() {
            let count = self.0.clone().filter(|other| other == name).count();
            named += count;
            if i > 0 {
                f.write_str(", ")?;
            }
            match count {
                1 => f.write_str(name)?,
                count => write!(f, "{name} ×{count}")?,
            }
        }
        match self.0.clone().count() - named {
            0 => Ok(()),
            more => write!(f, ", and {more} more"),
        }
    }
}

/// `1 critical task`, `3 critical tasks`.
pub(crate) struct Count(pub(crate) usize, pub(crate) &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(count, what) = *self;
        match count {
            1 => write!(f, "1 {what}"),
            count => write!(f, "{count} {what}s"),
        }
    }
}
