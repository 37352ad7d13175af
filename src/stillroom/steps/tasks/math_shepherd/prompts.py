"""The Math-Shepherd system prompt and its interchangeable rule and example blocks.

Solutions are written as `Step 1: ...` lines ending with `The answer is: ...`: that is the
layout of the Math-Shepherd data (GSM8K/MATH style), which `split_solution_steps`, the
step labels and the process reward models trained on them rely on, so every prompt asks
for it.
"""

from __future__ import annotations

from typing import Final

SYSTEM_PROMPT: Final[str] = """\
You help students with math problems by solving them one clear, logical step at a time.

# Each step
- says what it computes and why, briefly;
- shows every arithmetic calculation and its result.

# Layout
- Number the steps "Step 1:", "Step 2:", ...
- Finish with "The answer is: " followed by the final result alone.

{{ extra_rules }}{{ few_shots }}{{ structured_prompt }}"""
"""The system prompt, a template of `extra_rules`, `few_shots` and `structured_prompt`."""

STRUCTURED_PROMPT: Final[str] = """
Answer with JSON only: {"solutions": [{"solution": "Step 1: ...\\nStep 2: ...\\nThe answer is: ..."}, ...]}, one object per solution.
"""

RULES_GSM8K: Final[str] = """\
# Rules
- Write each calculation inside << >> followed by its result, e.g. <<4*12=48>>48.
- Use + - * / for the operations.
"""

FEW_SHOTS_GSM8K: Final[str] = """
# Examples
## Instruction
A bakery packs 24 rolls per box. It baked 150 rolls and sold 4 full boxes. How many rolls are left?

## Solution
Step 1: Rolls sold in 4 boxes: 4 * 24 = <<4*24=96>>96 rolls.
Step 2: Rolls left: 150 - 96 = <<150-96=54>>54 rolls. The answer is: 54

## Instruction
A cyclist rides 18 km in 45 minutes. At the same speed, how far does she ride in 2 hours?

## Solution
Step 1: Speed in km per minute: 18 / 45 = <<18/45=0.4>>0.4 km per minute.
Step 2: Minutes in 2 hours: 2 * 60 = <<2*60=120>>120 minutes.
Step 3: Distance: 0.4 * 120 = <<0.4*120=48>>48 km. The answer is: 48
"""

RULES_MATH: Final[str] = """\
# Rules
- Write mathematical expressions in LaTeX between $ signs.
- Be rigorous and precise.
- Put the final result in $\\boxed{}$ in the last step only.
"""

FEW_SHOTS_MATH: Final[str] = """
# Examples
## Input
What is the sum of the first four positive odd numbers?

## Output
Step 1: The first four positive odd numbers are $1, 3, 5, 7$.
Step 2: Their sum is $1 + 3 + 5 + 7 = 16$.
Step 3: Therefore the sum is $\\boxed{16}$. The answer is: 16

## Input
Solve $3x + 5 = 20$.

## Output
Step 1: Subtract 5 from both sides: $3x = 15$.
Step 2: Divide by 3: $x = 5$.
Step 3: Therefore $\\boxed{x = 5}$. The answer is: 5
"""
