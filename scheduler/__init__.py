"""Top layer: reads settings.yaml and the environment, wires everything, CLI, scheduler."""
