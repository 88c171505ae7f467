"""Everything a person reads: failure explanations, the terminal summary, and (later) report files."""
