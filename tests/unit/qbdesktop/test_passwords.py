from shared.qbdesktop import passwords


def test_a_password_is_stored_only_as_a_salted_scrypt_hash():
    stored = passwords.hash_password("s3cret")
    assert "s3cret" not in stored and stored.startswith("scrypt$16384$8$1$")
    assert stored != passwords.hash_password("s3cret")  # salted
    assert passwords.verify_password("s3cret", stored)
    assert not passwords.verify_password("S3cret", stored)


def test_a_missing_or_malformed_hash_never_verifies():
    for stored in (None, "", "plain", "md5$x$y$z$a$b", "scrypt$a$b$c$d$e"):
        assert not passwords.verify_password("anything", stored)


def test_new_passwords_are_long_and_different():
    a, b = passwords.new_password(), passwords.new_password()
    assert a != b and len(a) >= 20
