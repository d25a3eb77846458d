"""Digest authentication: RFC vectors, real clients' answers, nonces, verification."""

from __future__ import annotations

import base64

import pytest

from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.sip.auth import (
    Algorithm,
    AuthResult,
    DigestAuthenticator,
    DigestCredentials,
    NonceService,
    NonceStatus,
    digest_response,
)
from ringfort.sip.headers import AuthHeader

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000.0
REALM = "pbx.example.com"


def _credentials(header_value: str) -> DigestCredentials:
    header = AuthHeader.parse(header_value)
    assert header.scheme == "Digest"
    return DigestCredentials.from_params(header.params)


def _params(header_value: str) -> dict[str, str]:
    return AuthHeader.parse(header_value).params


def _answer(
    challenge: str,
    *,
    password: str = "secret",
    method: str = "REGISTER",
    uri: str = "sip:pbx.example.com",
    nc: str = "00000001",
    cnonce: str = "0a4f113b",
    username: str = "201",
) -> DigestCredentials:
    """What a phone answers to ``challenge``, computed independently of verify()."""
    offered = _params(challenge)
    algorithm = Algorithm.from_token(offered["algorithm"])
    response = digest_response(
        algorithm=algorithm,
        username=username,
        realm=offered["realm"],
        password=password,
        method=method,
        uri=uri,
        nonce=offered["nonce"],
        nc=nc,
        cnonce=cnonce,
        qop="auth",
    )
    return DigestCredentials(
        username=username,
        realm=offered["realm"],
        nonce=offered["nonce"],
        uri=uri,
        response=response,
        algorithm=algorithm,
        cnonce=cnonce,
        nc=nc,
        qop="auth",
        opaque=None,
    )


def _authenticator(**kwargs: object) -> DigestAuthenticator:
    return DigestAuthenticator(realm=REALM, nonces=NonceService(SECRET, 300.0), **kwargs)  # type: ignore[arg-type]


# --- digest_response: published vectors ---


def test_rfc2617_example_md5_qop_auth() -> None:
    # RFC 2617 §3.5
    assert (
        digest_response(
            algorithm=Algorithm.MD5,
            username="Mufasa",
            realm="testrealm@host.com",
            password="Circle Of Life",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            nc="00000001",
            cnonce="0a4f113b",
            qop="auth",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (Algorithm.SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        (Algorithm.MD5, "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_examples(algorithm: Algorithm, expected: str) -> None:
    # RFC 7616 §3.9.1 (note the lower-case "of" in this RFC's password)
    assert (
        digest_response(
            algorithm=algorithm,
            username="Mufasa",
            realm="http-auth@example.org",
            password="Circle of Life",
            method="GET",
            uri="/dir/index.html",
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc="00000001",
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            qop="auth",
        )
        == expected
    )


def test_rfc7616_example_header_parses_into_credentials() -> None:
    # RFC 7616 §3.9.1, the SHA-256 Authorization header
    credentials = _credentials(
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    assert credentials == DigestCredentials(
        username="Mufasa",
        realm="http-auth@example.org",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        uri="/dir/index.html",
        response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        algorithm=Algorithm.SHA256,
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc="00000001",
        qop="auth",
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    )


def test_rfc2069_form_without_qop() -> None:
    # RFC 2617 §3.2.2.1: response = H(HA1 ":" nonce ":" HA2) when qop is absent
    ha1 = Algorithm.MD5.hash_hex("Mufasa:testrealm@host.com:Circle Of Life")
    ha2 = Algorithm.MD5.hash_hex("GET:/dir/index.html")
    assert digest_response(
        algorithm=Algorithm.MD5,
        username="Mufasa",
        realm="testrealm@host.com",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    ) == Algorithm.MD5.hash_hex(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}")


def test_sess_algorithm_hashes_nonce_and_cnonce_into_ha1() -> None:
    # RFC 7616 §3.4.2
    ha1 = Algorithm.SHA256.hash_hex("201:pbx:pw")
    ha1_sess = Algorithm.SHA256.hash_hex(f"{ha1}:N:C")
    ha2 = Algorithm.SHA256.hash_hex("REGISTER:sip:pbx")
    assert digest_response(
        algorithm=Algorithm.SHA256_SESS,
        username="201",
        realm="pbx",
        password="pw",
        method="REGISTER",
        uri="sip:pbx",
        nonce="N",
        nc="00000001",
        cnonce="C",
        qop="auth",
    ) == Algorithm.SHA256.hash_hex(f"{ha1_sess}:N:00000001:C:auth:{ha2}")


def test_auth_int_is_not_implemented() -> None:
    with pytest.raises(LocalProtocolError):
        digest_response(
            algorithm=Algorithm.MD5,
            username="u",
            realm="r",
            password="p",
            method="INVITE",
            uri="sip:r",
            nonce="n",
            nc="00000001",
            cnonce="c",
            qop="auth-int",
        )


# --- real SIP clients' answers to our challenges ---
# Captured on 127.0.0.1: our 401 challenge (NonceService(b"k" * 32, ...)) answered
# by SIPp 3.6.1 (`[authentication username=alice password=secret]`) and by
# baresip 1.0.0 (auth_pass=secret). Realm "ringfort.test", method REGISTER.

CAPTURE_SECRET = b"k" * 32
SIPP_NONCE_ISSUED = 1795323557.209
SIPP_FIRST = (
    'Digest username="alice",realm="ringfort.test",cnonce="6b8b4567",nc=00000001,qop=auth,'
    'uri="sip:127.0.0.1:15060",nonce="AAABogGfdVm5BJg5as_v5pQl64g1pTUI2Vuew6y7ghwGSjlL",'
    'response="4c48062e0bdef6a8dcfd1a0cac6fcb2c",algorithm=MD5'
)
SIPP_SECOND = (
    'Digest username="alice",realm="ringfort.test",cnonce="327b23c6",nc=00000002,qop=auth,'
    'uri="sip:127.0.0.1:15060",nonce="AAABogGfdVm5BJg5as_v5pQl64g1pTUI2Vuew6y7ghwGSjlL",'
    'response="ef03e87f9e642c5257524a1b9e05b78a",algorithm=MD5'
)
BARESIP_NONCE_ISSUED = 1795323585.377
BARESIP = (
    'Digest username="alice", realm="ringfort.test", '
    'nonce="AAABogGf42ED2MwnpuTThJvRIVmsQOEcbWxBkZ35XNsIbSab", '
    'uri="sip:127.0.0.1:15060;transport=udp", response="c8987b3569022da723b76d5df2e8f0a3", '
    'cnonce="0710366af332b0c5", qop=auth, nc=00000001'
)


def _capture_authenticator() -> DigestAuthenticator:
    return DigestAuthenticator(
        realm="ringfort.test",
        nonces=NonceService(CAPTURE_SECRET, 300.0),
        algorithms=(Algorithm.MD5,),
    )


def test_sipp_register_digest_matches() -> None:
    credentials = _credentials(SIPP_FIRST)
    assert credentials.uri == "sip:127.0.0.1:15060"
    assert (
        digest_response(
            algorithm=Algorithm.MD5,
            username="alice",
            realm="ringfort.test",
            password="secret",
            method="REGISTER",
            uri=credentials.uri,
            nonce=credentials.nonce,
            nc="00000001",
            cnonce="6b8b4567",
            qop="auth",
        )
        == "4c48062e0bdef6a8dcfd1a0cac6fcb2c"
    )


def test_sipp_reusing_nonce_with_increasing_nc_is_accepted() -> None:
    authenticator = _capture_authenticator()
    now = SIPP_NONCE_ISSUED + 1
    for header in (SIPP_FIRST, SIPP_SECOND):
        result = authenticator.verify(
            _credentials(header), password="secret", method="REGISTER", now=now
        )
        assert result is AuthResult.OK


def test_sipp_replayed_request_is_refused() -> None:
    authenticator = _capture_authenticator()
    now = SIPP_NONCE_ISSUED + 1
    first = _credentials(SIPP_FIRST)
    assert authenticator.verify(first, password="secret", method="REGISTER", now=now) is (
        AuthResult.OK
    )
    assert authenticator.verify(first, password="secret", method="REGISTER", now=now) is (
        AuthResult.BAD
    )


def test_baresip_register_verifies() -> None:
    result = _capture_authenticator().verify(
        _credentials(BARESIP), password="secret", method="REGISTER", now=BARESIP_NONCE_ISSUED + 2
    )
    assert result is AuthResult.OK


def test_baresip_with_wrong_password_is_bad() -> None:
    result = _capture_authenticator().verify(
        _credentials(BARESIP), password="Secret", method="REGISTER", now=BARESIP_NONCE_ISSUED + 2
    )
    assert result is AuthResult.BAD


# --- DigestCredentials.from_params ---

VALID_PARAMS = {
    "username": "201",
    "realm": REALM,
    "nonce": "abc",
    "uri": "sip:pbx.example.com",
    "response": "0" * 64,
    "algorithm": "SHA-256",
    "qop": "auth",
    "nc": "0000000A",
    "cnonce": "xyz",
}


def test_from_params_normalises_case_of_response_and_algorithm() -> None:
    credentials = DigestCredentials.from_params(
        {**VALID_PARAMS, "algorithm": "sha-256", "response": "AB" * 32}
    )
    assert credentials.algorithm is Algorithm.SHA256
    assert credentials.response == "ab" * 32


def test_from_params_keeps_nc_and_qop_as_the_client_hashed_them() -> None:
    credentials = DigestCredentials.from_params({**VALID_PARAMS, "qop": "Auth"})
    assert credentials.nc == "0000000A"
    assert credentials.qop == "Auth"


def test_verify_accepts_upper_case_nonce_count_and_counts_it_by_value() -> None:
    authenticator = _authenticator()
    challenge = authenticator.challenge(NOW)[0]
    upper = _answer(challenge, nc="0000000A")
    lower = _answer(challenge, nc="0000000a", cnonce="other")
    verify = authenticator.verify
    assert verify(upper, password="secret", method="REGISTER", now=NOW) is AuthResult.OK
    assert verify(lower, password="secret", method="REGISTER", now=NOW) is AuthResult.BAD


def test_from_params_defaults_to_md5() -> None:
    # RFC 2617 §3.2.1: no algorithm means MD5
    params = {**VALID_PARAMS, "response": "f" * 32}
    del params["algorithm"]
    assert DigestCredentials.from_params(params).algorithm is Algorithm.MD5


def test_from_params_accepts_sess_algorithms() -> None:
    credentials = DigestCredentials.from_params({**VALID_PARAMS, "algorithm": "SHA-256-sess"})
    assert credentials.algorithm is Algorithm.SHA256_SESS


def test_from_params_decodes_extended_username() -> None:
    # RFC 7616 §3.4.4 / RFC 8187
    params = {k: v for k, v in VALID_PARAMS.items() if k != "username"}
    params["username*"] = "UTF-8''J%C3%A4s%C3%B8n%20Doe"
    assert DigestCredentials.from_params(params).username == "Jäsøn Doe"


@pytest.mark.parametrize(
    "change",
    [
        {"username": None},
        {"realm": None},
        {"nonce": None},
        {"uri": None},
        {"response": None},
        {"algorithm": "SHA-512-256"},
        {"algorithm": "AKAv1-MD5"},
        {"response": "0" * 32},  # MD5 length with SHA-256
        {"response": "g" * 64},
        {"qop": "auth-int"},
        {"qop": "auth", "cnonce": None},
        {"qop": "auth", "nc": None},
        {"nc": "1"},
        {"nc": "0000000g"},
        {"nc": "000000001"},
        {"userhash": "true"},
        {"algorithm": "MD5-sess", "response": "0" * 32, "qop": None, "nc": None, "cnonce": None},
    ],
)
def test_from_params_rejects_missing_or_malformed_fields(change: dict[str, str | None]) -> None:
    params = dict(VALID_PARAMS)
    for name, value in change.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    with pytest.raises(RemoteProtocolError) as caught:
        DigestCredentials.from_params(params)
    assert caught.value.status == 400


# --- nonces ---


def test_nonce_is_valid_within_lifetime() -> None:
    nonces = NonceService(SECRET, 300.0)
    nonce = nonces.issue(NOW)
    assert nonces.check(nonce, NOW) is NonceStatus.VALID
    assert nonces.check(nonce, NOW + 299.0) is NonceStatus.VALID


def test_nonces_are_unique_and_quotable() -> None:
    nonces = NonceService(SECRET, 300.0)
    issued = {nonces.issue(NOW) for _ in range(1000)}
    assert len(issued) == 1000
    assert all(len(n) == 48 and '"' not in n and "\\" not in n for n in issued)


def test_nonce_goes_stale_after_lifetime() -> None:
    nonces = NonceService(SECRET, 300.0)
    nonce = nonces.issue(NOW)
    assert nonces.check(nonce, NOW + 301.0) is NonceStatus.STALE


def test_nonce_from_the_future_is_stale_beyond_clock_skew() -> None:
    nonces = NonceService(SECRET, 300.0)
    nonce = nonces.issue(NOW)
    assert nonces.check(nonce, NOW - 1.0) is NonceStatus.VALID
    assert nonces.check(nonce, NOW - 60.0) is NonceStatus.STALE


def test_nonce_checks_on_another_node_with_the_same_secret() -> None:
    nonce = NonceService(SECRET, 300.0).issue(NOW)
    assert NonceService(SECRET, 300.0).check(nonce, NOW + 1) is NonceStatus.VALID


def test_nonce_under_another_secret_is_invalid() -> None:
    nonce = NonceService(b"another secret, just as long!!!!", 300.0).issue(NOW)
    assert NonceService(SECRET, 300.0).check(nonce, NOW) is NonceStatus.INVALID


def test_nonce_with_a_moved_timestamp_is_invalid() -> None:
    nonces = NonceService(SECRET, 300.0)
    raw = bytearray(base64.urlsafe_b64decode(nonces.issue(NOW)))
    raw[7] ^= 0x01  # a forger trying to make an old nonce young
    forged = base64.urlsafe_b64encode(bytes(raw)).decode()
    assert nonces.check(forged, NOW) is NonceStatus.INVALID


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "A" * 47, "A" * 49, "=" * 48, "é" * 48, "A" * 46 + "==", "dcd98b7102dd2f0e8b11d0"],
)
def test_malformed_nonce_is_invalid(garbage: str) -> None:
    assert NonceService(SECRET, 300.0).check(garbage, NOW) is NonceStatus.INVALID


def test_truncated_nonce_is_invalid() -> None:
    nonces = NonceService(SECRET, 300.0)
    nonce = nonces.issue(NOW)
    for end in range(len(nonce)):
        assert nonces.check(nonce[:end], NOW) is NonceStatus.INVALID


def test_short_secret_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        NonceService(b"short", 300.0)


# --- nonce counts ---


def test_increasing_nonce_counts_are_accepted() -> None:
    nonces = NonceService(SECRET, 300.0)
    for nc in (1, 2, 3, 10, 500):
        assert nonces.accept_count("n", nc) is NonceStatus.VALID


def test_repeated_nonce_count_is_invalid() -> None:
    nonces = NonceService(SECRET, 300.0)
    assert nonces.accept_count("n", 1) is NonceStatus.VALID
    assert nonces.accept_count("n", 1) is NonceStatus.INVALID


def test_out_of_order_nonce_count_is_accepted_once() -> None:
    nonces = NonceService(SECRET, 300.0)
    assert nonces.accept_count("n", 5) is NonceStatus.VALID
    assert nonces.accept_count("n", 3) is NonceStatus.VALID
    assert nonces.accept_count("n", 3) is NonceStatus.INVALID
    assert nonces.accept_count("n", 5) is NonceStatus.INVALID


def test_nonce_count_far_below_the_highest_is_invalid() -> None:
    nonces = NonceService(SECRET, 300.0)
    assert nonces.accept_count("n", 1000) is NonceStatus.VALID
    assert nonces.accept_count("n", 1) is NonceStatus.INVALID


def test_nonce_counts_are_kept_per_nonce() -> None:
    nonces = NonceService(SECRET, 300.0)
    assert nonces.accept_count("a", 1) is NonceStatus.VALID
    assert nonces.accept_count("b", 1) is NonceStatus.VALID


def test_nonce_count_table_is_bounded() -> None:
    nonces = NonceService(SECRET, 300.0, max_counted=100)
    for i in range(1000):
        nonces.accept_count(f"n{i}", 1)
    assert len(nonces._counts) == 100
    # the most recently used survive
    assert nonces.accept_count("n999", 1) is NonceStatus.INVALID


def test_replay_protection_can_be_turned_off() -> None:
    nonces = NonceService(SECRET, 300.0, max_counted=0)
    assert nonces.accept_count("n", 1) is NonceStatus.VALID
    assert nonces.accept_count("n", 1) is NonceStatus.VALID


# --- challenges ---


def test_challenge_offers_sha256_before_md5_with_one_nonce() -> None:
    values = _authenticator().challenge(NOW)
    assert len(values) == 2
    sha, md5 = (_params(v) for v in values)
    assert values[0].startswith("Digest ")
    assert sha["algorithm"] == "SHA-256"
    assert md5["algorithm"] == "MD5"
    assert sha["nonce"] == md5["nonce"]
    assert sha == {"realm": REALM, "nonce": sha["nonce"], "algorithm": "SHA-256", "qop": "auth"}


def test_challenge_format() -> None:
    (value,) = _authenticator(algorithms=(Algorithm.MD5,)).challenge(NOW)
    nonce = _params(value)["nonce"]
    assert value == f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth"'


def test_stale_challenge_says_so() -> None:
    for value in _authenticator().challenge(NOW, stale=True):
        assert value.endswith(", stale=true")
        assert _params(value)["stale"] == "true"


def test_challenge_quotes_realm() -> None:
    authenticator = DigestAuthenticator(realm='a"b\\c', nonces=NonceService(SECRET, 300.0))
    (value, _) = authenticator.challenge(NOW)
    assert value.startswith('Digest realm="a\\"b\\\\c", ')
    assert _params(value)["realm"] == 'a"b\\c'


# --- verify ---


@pytest.mark.parametrize("index", [0, 1])
def test_verify_ok_for_each_offered_algorithm(index: int) -> None:
    authenticator = _authenticator()
    credentials = _answer(authenticator.challenge(NOW)[index])
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW + 1)
    assert result is AuthResult.OK


def test_verify_uses_the_uri_the_client_signed() -> None:
    authenticator = _authenticator()
    credentials = _answer(authenticator.challenge(NOW)[0], uri="sip:192.0.2.1:5060")
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.OK


def test_verify_wrong_password_is_bad() -> None:
    authenticator = _authenticator()
    credentials = _answer(authenticator.challenge(NOW)[0], password="guess")
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.BAD


def test_verify_wrong_method_is_bad() -> None:
    authenticator = _authenticator()
    credentials = _answer(authenticator.challenge(NOW)[0], method="INVITE")
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.BAD


def test_verify_expired_nonce_with_right_password_is_stale() -> None:
    authenticator = _authenticator()
    credentials = _answer(authenticator.challenge(NOW)[0])
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW + 301)
    assert result is AuthResult.STALE


def test_verify_expired_nonce_with_wrong_password_is_bad() -> None:
    authenticator = _authenticator()
    credentials = _answer(authenticator.challenge(NOW)[0], password="guess")
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW + 301)
    assert result is AuthResult.BAD


def test_verify_forged_nonce_is_bad() -> None:
    authenticator = _authenticator()
    other = NonceService(b"someone else's secret, 32 bytes!", 300.0)
    credentials = _answer(f'Digest realm="{REALM}", nonce="{other.issue(NOW)}", algorithm=MD5')
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.BAD


def test_verify_other_realm_is_bad() -> None:
    authenticator = _authenticator()
    nonce = authenticator.nonces.issue(NOW)
    credentials = _answer(f'Digest realm="elsewhere", nonce="{nonce}", algorithm=MD5')
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.BAD


def test_verify_algorithm_not_offered_is_bad() -> None:
    authenticator = _authenticator(algorithms=(Algorithm.SHA256,))
    nonce = authenticator.nonces.issue(NOW)
    credentials = _answer(f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5')
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.BAD


def test_verify_accepts_sess_variant_of_an_offered_algorithm() -> None:
    authenticator = _authenticator()
    nonce = authenticator.nonces.issue(NOW)
    credentials = _answer(f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5-sess')
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.OK


def test_verify_refuses_a_replayed_nonce_count() -> None:
    authenticator = _authenticator()
    challenge = authenticator.challenge(NOW)[0]
    first = _answer(challenge, nc="00000001")
    second = _answer(challenge, nc="00000002", cnonce="other")
    verify = authenticator.verify
    assert verify(first, password="secret", method="REGISTER", now=NOW) is AuthResult.OK
    assert verify(second, password="secret", method="REGISTER", now=NOW) is AuthResult.OK
    assert verify(first, password="secret", method="REGISTER", now=NOW) is AuthResult.BAD


def test_bad_attempts_do_not_burn_nonce_counts() -> None:
    authenticator = _authenticator()
    challenge = authenticator.challenge(NOW)[0]
    attacker = _answer(challenge, nc="00000001", password="guess")
    phone = _answer(challenge, nc="00000001")
    verify = authenticator.verify
    assert verify(attacker, password="secret", method="REGISTER", now=NOW) is AuthResult.BAD
    assert verify(phone, password="secret", method="REGISTER", now=NOW) is AuthResult.OK


def test_verify_without_qop_rfc2069_client() -> None:
    authenticator = _authenticator(algorithms=(Algorithm.MD5,))
    nonce = authenticator.nonces.issue(NOW)
    response = digest_response(
        algorithm=Algorithm.MD5,
        username="201",
        realm=REALM,
        password="secret",
        method="REGISTER",
        uri="sip:pbx.example.com",
        nonce=nonce,
    )
    credentials = DigestCredentials.from_params(
        {
            "username": "201",
            "realm": REALM,
            "nonce": nonce,
            "uri": "sip:pbx.example.com",
            "response": response,
        }
    )
    result = authenticator.verify(credentials, password="secret", method="REGISTER", now=NOW)
    assert result is AuthResult.OK


def test_authenticator_refuses_empty_or_sess_offers() -> None:
    with pytest.raises(LocalProtocolError):
        _authenticator(algorithms=())
    with pytest.raises(LocalProtocolError):
        _authenticator(algorithms=(Algorithm.MD5_SESS,))
