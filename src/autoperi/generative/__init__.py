"""Crystal generative models built on the flow-matching core and the periodic GNN."""
