"""Development tools: synthetic data, local servers and the demo; never imported by product code."""
