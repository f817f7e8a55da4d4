//! Go's text/tabwriter as etcdctl configures it for usage text (minwidth 0, tabwidth 8,
//! padding 1, padchar '\t'): tab-terminated cells align in columns, padded with tabs.

const TAB_WIDTH: usize = 8;

pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    // widths[line][column] for each tab-terminated cell.
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|cells| vec![0; cells.len() - 1]).collect();
    format(&lines, &mut widths, 0, lines.len(), 0);
    let mut out = String::new();
    for (i, cells) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (c, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < cells.len() {
                let text = cell.chars().count();
                let tabs = (widths[i][c] - text).div_ceil(TAB_WIDTH);
                out.push_str(&"\t".repeat(tabs));
            }
        }
    }
    out
}

/// Lines `start..end` all have a cell in `column - 1`; find the blocks of consecutive lines that
/// have one in `column`, give each block its width, and recurse.
fn format(lines: &[Vec<&str>], widths: &mut [Vec<usize>], start: usize, end: usize, column: usize) {
    let mut i = start;
    while i < end {
        if lines[i].len() - 1 <= column {
            i += 1;
            continue;
        }
        let block_start = i;
        while i < end && lines[i].len() - 1 > column {
            i += 1;
        }
        let widest = (block_start..i)
            .map(|l| lines[l][column].chars().count())
            .max()
            .unwrap_or(0);
        let width = (widest + 1).div_ceil(TAB_WIDTH) * TAB_WIDTH;
        for row in widths.iter_mut().take(i).skip(block_start) {
            row[column] = width;
        }
        format(lines, widths, block_start, i, column + 1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_like_go() {
        let text =
            "      --consistency=\"l\"\tLinearizable\n      --print-value-only[=false]\tOnly\nX";
        assert_eq!(
            super::align(text),
            "      --consistency=\"l\"\t\t\tLinearizable\n      --print-value-only[=false]\tOnly\nX"
        );
    }
}
