"""VertexAILLM: the generateContent payload, responseSchema, and the OAuth token exchange
for service-account keys and user credentials (keys made in the test, token endpoint mocked)."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from backend_helpers import FAST, GEMINI_PATH, VERTEX_URL, gemini_reply
from pydantic import BaseModel

from stillroom.errors import StillroomError
from stillroom.models import VertexAILLM
from stillroom.models.llms.gemini_schema import gemini_schema

pytestmark = pytest.mark.timeout(30)

URL = f"{VERTEX_URL}{GEMINI_PATH}:generateContent"
TOKEN_URI = "https://oauth2.test/token"
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "How are you?"},
]


class Owner(BaseModel):
    name: str


class Pet(BaseModel):
    name: str
    age: int | None
    owner: Owner


def make(**kwargs) -> VertexAILLM:
    return VertexAILLM(
        **{
            "model": "gemini-test",
            "project": "p",
            "location": "us-central1",
            "base_url": VERTEX_URL,
            **FAST,
            **kwargs,
        }
    )


@pytest.fixture
def service_account(tmp_path):
    """A service account key file with a fresh RSA key, and its public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "sa-project",
        "private_key_id": "kid-1",
        "private_key": pem,
        "client_email": "bot@sa-project.iam.gserviceaccount.com",
        "token_uri": TOKEN_URI,
    }
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info))
    return path, key.public_key()


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_payload_roles_system_instruction_and_settings(mock_api, loaded):
    route = mock_api.post(URL).mock(return_value=httpx.Response(200, json=gemini_reply("fine")))
    (output,) = loaded(make(api_key="ya29.token")).generate(
        [CHAT], temperature=0.3, max_new_tokens=20, top_k=4, stop_sequences=["END"]
    )
    assert output == {
        "generations": ["fine"],
        "statistics": {"input_tokens": [6], "output_tokens": [2]},
    }
    request = route.calls[-1].request
    assert json.loads(request.content) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "How are you?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.3,
            "topK": 4,
            "maxOutputTokens": 20,
            "stopSequences": ["END"],
        },
    }
    assert request.headers["authorization"] == "Bearer ya29.token"


def test_structured_output_sends_a_response_schema(mock_api, loaded):
    reply = '{"name": "Rex", "age": null, "owner": {"name": "Ann"}}'
    route = mock_api.post(URL).mock(return_value=httpx.Response(200, json=gemini_reply(reply)))
    (output,) = loaded(make(api_key="t", structured_output={"schema": Pet})).generate([CHAT[1:2]])
    assert output["generations"] == [reply]
    config = json.loads(route.calls[-1].request.content)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == gemini_schema(Pet.model_json_schema(), "t")
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT" and schema["properties"]["owner"]["type"] == "OBJECT"
    assert schema["properties"]["age"] == {"type": "INTEGER", "nullable": True, "title": "Age"}
    assert "$defs" not in json.dumps(schema)


def test_a_blocked_candidate_is_a_none_generation(mock_api, loaded):
    mock_api.post(URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "candidates": [{"finishReason": "SAFETY"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 0},
            },
        )
    )
    (output,) = loaded(make(api_key="t")).generate([CHAT[1:2]])
    assert output["generations"] == [None]


def test_service_account_key_is_exchanged_for_a_token_once(
    mock_api, loaded, service_account, monkeypatch
):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    path, public_key = service_account
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    token = mock_api.post(TOKEN_URI).mock(
        return_value=httpx.Response(200, json={"access_token": "ya29.minted", "expires_in": 3600})
    )
    url = URL.replace("/projects/p/", "/projects/sa-project/")
    route = mock_api.post(url).mock(return_value=httpx.Response(200, json=gemini_reply("hi")))
    llm = loaded(make(project=None, credentials_path=str(path)))
    outputs = llm.generate([CHAT[1:2]] * 3)
    assert [o["generations"] for o in outputs] == [["hi"]] * 3
    assert token.call_count == 1  # kept until it nears its expiry
    assert route.calls[-1].request.headers["authorization"] == "Bearer ya29.minted"

    form = dict(httpx.QueryParams(token.calls[-1].request.content.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims, signature = form["assertion"].split(".")
    public_key.verify(
        _b64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    claims = json.loads(_b64(claims))
    assert claims["iss"] == "bot@sa-project.iam.gserviceaccount.com"
    assert claims["aud"] == TOKEN_URI
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 60


def test_user_credentials_from_the_environment_use_the_refresh_token(
    mock_api, loaded, tmp_path, monkeypatch
):
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "cid",
                "client_secret": "csecret",
                "refresh_token": "1//refresh",
                "quota_project_id": "p",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    token = mock_api.post("https://oauth2.googleapis.com/token").mock(
        return_value=httpx.Response(200, json={"access_token": "ya29.user", "expires_in": 3599})
    )
    route = mock_api.post(URL).mock(return_value=httpx.Response(200, json=gemini_reply("hi")))
    loaded(make(project=None)).generate([CHAT[1:2]])
    form = dict(httpx.QueryParams(token.calls[-1].request.content.decode()))
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "1//refresh",
    }
    assert route.calls[-1].request.headers["authorization"] == "Bearer ya29.user"


def test_refused_credentials_are_a_clear_error_without_secrets(mock_api, loaded, service_account):
    path, _ = service_account
    mock_api.post(TOKEN_URI).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "Invalid JWT"}
        )
    )
    (result,) = loaded(make(credentials_path=str(path))).generate_results([CHAT[1:2]])
    assert isinstance(result, StillroomError)
    assert "Invalid JWT" in str(result) and "GOOGLE_APPLICATION_CREDENTIALS" in str(result)
    assert "PRIVATE KEY" not in str(result)


def test_no_credentials_fail_at_load(monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with pytest.raises(StillroomError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        make().load()


def test_spec_prefix():
    from stillroom.models.llms.spec import llm_from_spec

    llm = llm_from_spec("vertexai:gemini-2.0-flash")
    assert isinstance(llm, VertexAILLM) and llm.model == "gemini-2.0-flash"
    with_url = llm_from_spec("vertexai:gemini-2.0-flash@http://127.0.0.1:9/v1")
    assert isinstance(with_url, VertexAILLM) and with_url.base_url == "http://127.0.0.1:9/v1"
