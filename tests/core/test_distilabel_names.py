"""distilabel 1.5.3's public names, renamed, resolve at their paths in stillroom.

The names are data (what a ported script imports); the check is that each exists where a
renamed import looks for it, and that the errors keep distilabel's builtin bases, so an
existing `except ValueError` still catches them.
"""

from __future__ import annotations

import importlib

import pytest

from stillroom.errors import (
    StillroomError,
    StillroomNotImplementedError,
    StillroomTypeError,
    StillroomUserError,
)

NAMES = {
    "stillroom.constants": (
        "BASE_CACHE_DIR CONVERGENCE_STEP_ATTR_NAME STILLROOM_DOCS_URL STILLROOM_METADATA_KEY "
        "DISTISET_ARTIFACTS_FOLDER DISTISET_CONFIG_FOLDER INPUT_QUEUE_ATTR_NAME "
        "LAST_BATCH_SENT_FLAG PIPELINES_CACHE_DIR PIPELINE_CONFIG_FILENAME "
        "PIPELINE_LOG_FILENAME RECEIVES_ROUTED_BATCHES_ATTR_NAME "
        "ROUTING_BATCH_FUNCTION_ATTR_NAME SIGINT_HANDLER_CALLED_ENV_NAME STEPS_ARTIFACTS_PATH "
        "STEPS_OUTPUTS_PATH STEP_ATTR_NAME"
    ),
    "stillroom.typing": (
        "ChatItem ChatType DownstreamConnectable DownstreamConnectableSteps FormattedInput "
        "GenerateOutput GeneratorStepOutput HiddenState ImageContent ImageUrl InputDataset "
        "InstructorStructuredOutputType LLMLogprobs LLMOutput LLMStatistics LoadGroups Logprob "
        "OutlinesStructuredOutputType PipelineRuntimeParametersInfo StandardInput StepColumns "
        "StepLoadStatus StepOutput StructuredInput StructuredOutputType TextContent TokenCount "
        "UpstreamConnectableSteps"
    ),
    "stillroom.errors": (
        "StillroomError StillroomUserError StillroomTypeError StillroomNotImplementedError"
    ),
    "stillroom.exceptions": (
        "StillroomException StillroomGenerationException "
        "StillroomOfflineBatchGenerationNotFinishedException"
    ),
    "stillroom.pipeline": "Pipeline RayPipeline routing_batch_function sample_n_steps",
    "stillroom.pipeline.local": "Pipeline",
    "stillroom.pipeline.routing_batch_function": (
        "RoutingBatchFunction routing_batch_function sample_n_steps"
    ),
    "stillroom.steps.generators.utils": "make_generator_step",
    "stillroom.steps": (
        "DBSCAN UMAP TextClustering DeitaFiltering EmbeddingDedup EmbeddingGeneration "
        "FaissNearestNeighbour PushToHub RewardModelScore TruncateTextColumn make_generator_step "
        "TextGenerationToArgilla PreferenceToArgilla"
    ),
    "stillroom.steps.clustering.dbscan": "DBSCAN",
    "stillroom.steps.clustering.umap": "UMAP",
    "stillroom.steps.clustering.text_clustering": "TextClustering",
    "stillroom.steps.deita": "DeitaFiltering",
    "stillroom.steps.embeddings.embedding_generation": "EmbeddingGeneration",
    "stillroom.steps.embeddings.nearest_neighbour": "FaissNearestNeighbour",
    "stillroom.steps.filtering.embedding": "EmbeddingDedup",
    "stillroom.steps.globals.huggingface": "PushToHub",
    "stillroom.steps.argilla.text_generation": "TextGenerationToArgilla",
    "stillroom.steps.argilla.preference": "PreferenceToArgilla",
    "stillroom.steps.reward_model": "RewardModelScore",
    "stillroom.steps.truncate": "TruncateTextColumn",
    "stillroom.utils.chat": "is_openai_format",
    "stillroom.mixins.signature": "SignatureMixin",
    "stillroom.steps.tasks.evol_instruct.utils": "MUTATION_TEMPLATES GENERATION_MUTATION_TEMPLATES",
    "stillroom.steps.tasks.evol_instruct.evol_complexity.utils": (
        "MUTATION_TEMPLATES GENERATION_MUTATION_TEMPLATES"
    ),
    "stillroom.steps.tasks.evol_quality.utils": "MUTATION_TEMPLATES",
    "stillroom.models": (
        "AsyncImageGenerationModel ImageGenerationModel InferenceEndpointsImageGeneration "
        "OpenAIImageGeneration"
    ),
    "stillroom.models.image_generation": (
        "AsyncImageGenerationModel ImageGenerationModel InferenceEndpointsImageGeneration "
        "OpenAIImageGeneration"
    ),
    "stillroom.models.image_generation.base": "AsyncImageGenerationModel ImageGenerationModel",
    "stillroom.models.image_generation.openai": "OpenAIImageGeneration",
    "stillroom.models.image_generation.huggingface": "InferenceEndpointsImageGeneration",
    "stillroom.models.image_generation.huggingface.inference_endpoints": (
        "InferenceEndpointsImageGeneration"
    ),
    "stillroom.models.image_generation.utils": "image_from_str image_to_str",
    "stillroom.steps.tasks.base": "ImageTask",
    "stillroom.steps.tasks.image_generation": "ImageGeneration",
    "stillroom.steps.tasks.text_generation_with_image": "TextGenerationWithImage",
    "stillroom.steps.tasks": (
        "APIGenExecutionChecker APIGenGenerator APIGenSemanticChecker ArgillaLabeller "
        "BitextRetrievalGenerator CLAIR EmbeddingTaskGenerator FormatPRM Genstruct "
        "GenerateLongTextMatchingData GenerateShortTextMatchingData "
        "GenerateTextClassificationData GenerateTextRetrievalData InstructionBacktranslation "
        "MathShepherdCompleter MathShepherdGenerator MonolingualTripletGenerator PairRM URIAL "
        "ImageGeneration ImageTask TextGenerationWithImage GenerateEmbeddings"
    ),
    "stillroom.steps.tasks.generate_embeddings": "GenerateEmbeddings",
    "stillroom.steps.tasks.prometheus_eval": "PrometheusEval _DEFAULT_RUBRICS",
    "stillroom.steps.tasks.sentence_transformers": (
        "GenerateSentencePair GenerationAction CONTEXT_INTRO NEGATIVE_STYLE "
        "POSITIVE_NEGATIVE_SYSTEM_PROMPT POSITIVE_SYSTEM_PROMPT GENERATION_ACTION_SENTENCES"
    ),
    "stillroom.steps.tasks.math_shepherd.utils": (
        "FormatPRM parse_json_response split_solution_steps"
    ),
    "stillroom.steps.tasks.math_shepherd.generator": (
        "MathShepherdGenerator FEW_SHOTS_GSM8K FEW_SHOTS_MATH RULES_GSM8K RULES_MATH SYSTEM_PROMPT"
    ),
    "stillroom.steps.tasks.math_shepherd.completer": "MathShepherdCompleter",
    "stillroom.steps.tasks.apigen.utils": (
        "FunctionResult PrepareExamples execute_from_response load_module_from_path "
        "remove_fences remove_json_fences"
    ),
    "stillroom.steps.tasks.apigen.generator": "APIGenGenerator",
    "stillroom.steps.tasks.apigen.semantic_checker": "APIGenSemanticChecker",
    "stillroom.steps.tasks.apigen.execution_checker": "APIGenExecutionChecker",
}


@pytest.mark.parametrize("module", sorted(NAMES))
def test_every_name_resolves_at_its_renamed_path(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in NAMES[module].split() if not hasattr(loaded, name)]
    assert missing == []


def test_the_errors_keep_distilabels_builtin_bases() -> None:
    assert issubclass(StillroomUserError, ValueError)
    assert issubclass(StillroomTypeError, TypeError)
    assert issubclass(StillroomNotImplementedError, NotImplementedError)
    with pytest.raises(ValueError, match="bad value"):
        raise StillroomUserError("bad value")


def test_an_error_with_a_page_says_where_to_read_more() -> None:
    from stillroom.constants import STILLROOM_DOCS_URL

    error = StillroomError("Something is off.", page="pipeline/cli/")
    assert str(error) == (
        f"Something is off.\n\nFor further information visit {STILLROOM_DOCS_URL}pipeline/cli/"
    )
    assert error.message == "Something is off." and str(StillroomUserError("plain")) == "plain"


def test_chat_helpers() -> None:
    from stillroom.utils.chat import content_text, is_openai_format

    assert is_openai_format([{"role": "user", "content": "hi"}])
    assert not is_openai_format("hi") and not is_openai_format([{"content": "no role"}])
    parts = [
        {"type": "text", "text": "Describe "},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "this."},
    ]
    assert content_text(parts) == "Describe this."  # type: ignore[arg-type]
    assert content_text("plain") == "plain"


def test_the_evol_template_names_are_the_tasks_defaults() -> None:
    from stillroom.models import MockLLM
    from stillroom.steps.tasks import EvolComplexity, EvolInstructGenerator, EvolQuality
    from stillroom.steps.tasks.evol_instruct import utils as instruct
    from stillroom.steps.tasks.evol_instruct.evol_complexity import utils as complexity
    from stillroom.steps.tasks.evol_quality import utils as quality

    llm = MockLLM()
    generator = EvolInstructGenerator(llm=llm, num_instructions=2)
    assert generator.mutation_templates == instruct.GENERATION_MUTATION_TEMPLATES
    complexity_task = EvolComplexity(llm=llm, num_evolutions=2)
    assert complexity_task.mutation_templates == complexity.MUTATION_TEMPLATES
    quality_task = EvolQuality(llm=llm, num_evolutions=2)
    assert quality_task.mutation_templates == quality.MUTATION_TEMPLATES


def test_an_llm_without_a_batch_api_says_so() -> None:
    from stillroom.models import MockLLM

    with pytest.raises(StillroomNotImplementedError, match="no offline batch generation"):
        MockLLM().offline_batch_generate()
