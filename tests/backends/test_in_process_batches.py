"""`collect_in_batches`, the loop every in-process backend fills its collectors with: one
`generate` call per round for every generation still missing, an input's failed request
being that input's error while the other inputs of the call keep their replies, re-asks
for replies that fail the structured output."""

from __future__ import annotations

from stillroom.errors import StillroomError, StructuredOutputError
from stillroom.models.llms.in_process import collect_in_batches
from stillroom.models.llms.structured import GenerationCollector, Sample, StructuredSpec

PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def test_a_failed_request_is_its_inputs_error_and_the_others_keep_their_replies() -> None:
    collectors = [GenerationCollector(None, 2, 0, "llm") for _ in range(3)]
    calls: list[list[int]] = []
    failure = StillroomError("the engine failed this one")

    def generate(indices: list[int]) -> list[Sample | BaseException]:
        calls.append(indices)
        made: list[Sample | BaseException] = []
        for position, index in enumerate(indices):
            second_of_input_1 = index == 1 and indices[position - 1] == 1
            made.append(failure if second_of_input_1 else Sample(f"reply {index}", 3, 2))
        return made

    first, failed, third = collect_in_batches(collectors, generate)
    assert calls == [[0, 0, 1, 1, 2, 2]]  # one call for every missing generation
    assert failed is failure
    assert not isinstance(first, BaseException) and not isinstance(third, BaseException)
    assert first["generations"] == ["reply 0", "reply 0"]
    assert third["generations"] == ["reply 2", "reply 2"]
    assert third["statistics"] == {"input_tokens": [3, 3], "output_tokens": [2, 2]}


def test_an_invalid_reply_is_asked_again_and_a_failure_in_the_re_ask_is_that_inputs() -> None:
    spec = StructuredSpec("person", PERSON)
    collectors = [GenerationCollector(spec, 1, 2, "llm") for _ in range(3)]
    rounds: list[list[int]] = []

    def generate(indices: list[int]) -> list[Sample | BaseException]:
        rounds.append(indices)
        if len(rounds) == 1:  # input 0 valid; inputs 1 and 2 not JSON
            return [Sample('{"name": "Ada"}') if i == 0 else Sample("no json") for i in indices]
        return [Sample('{"name": "Grace"}') if i == 1 else RuntimeError("lost") for i in indices]

    ada, grace, lost = collect_in_batches(collectors, generate)
    assert rounds == [[0, 1, 2], [1, 2]]  # input 2 is not asked again after its failure
    assert not isinstance(ada, BaseException) and ada["generations"] == ['{"name": "Ada"}']
    assert not isinstance(grace, BaseException) and grace["generations"] == ['{"name": "Grace"}']
    assert isinstance(lost, RuntimeError) and str(lost) == "lost"


def test_a_reply_that_never_fits_is_its_inputs_error() -> None:
    collectors = [GenerationCollector(StructuredSpec("person", PERSON), 1, 1, "llm")]
    (result,) = collect_in_batches(collectors, lambda indices: [Sample("nope") for _ in indices])
    assert isinstance(result, StructuredOutputError) and "not valid JSON" in str(result)
