#!/usr/bin/env sh
# Rebuilds agents/pretrained/tutorial.pt, the team `python -m mazesim.play` shows by default, and
# evaluates it and its members on the tutorial's 100 held-out mazes (the README's results).
# Run from the repository root with the project's environment active:
#     sh agents/pretrained/build.sh            # runs go to runs/pretrained (RUNS=... to change)
#     sh agents/pretrained/build.sh evaluate   # only the evaluations, of the members in $RUNS
# Imitation trains from the expert; the three RL members start from its weights (--init) and
# fine-tune with their own method, so the four members are trained four different ways.
set -eu
RUNS=${RUNS:-runs/pretrained}
COMMON="--scenario tutorial --seed 0 --no-progress"
if [ "${1:-all}" != evaluate ]; then
python -m agents.train_imitation $COMMON --run-dir "$RUNS/imitation"
INIT="--init $RUNS/imitation/last.pt"
python -m agents.train_grpo $COMMON $INIT --steps 20000 --lr 1e-4 --run-dir "$RUNS/grpo" &
python -m agents.train_luffy $COMMON $INIT --steps 20000 --lr 1e-4 --run-dir "$RUNS/luffy" &
# Q-learning has to turn the imitation logits into values: small steps, little exploration
python -m agents.train_dqn $COMMON $INIT --steps 10000 --lr 3e-5 --eps-start 0.1 --eps-end 0.02 \
    --learning-starts 1000 --target-update 200 --gamma 0.95 --run-dir "$RUNS/dqn" &
wait
python -m agents.make_ensemble --out agents/pretrained/tutorial.pt \
    "$RUNS/imitation/last.pt" "$RUNS/grpo/last.pt" "$RUNS/dqn/last.pt" "$RUNS/luffy/last.pt"
fi
for m in imitation grpo dqn luffy; do
    python -m agents.evaluate --policy "$RUNS/$m/last.pt" --scenario tutorial --json "$RUNS/eval_$m.json" &
done
python -m agents.evaluate --policy agents/pretrained/tutorial.pt --scenario tutorial --json "$RUNS/eval_ensemble.json" &
python -m agents.evaluate --policy expert --scenario tutorial --json "$RUNS/eval_expert.json" &
wait
