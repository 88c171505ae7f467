def polite(output, case)
    return "please" in output
