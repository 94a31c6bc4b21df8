// Test fixture for the configuration loader (tests/test_config.c): a readable rules
// file that tests/data/config/with-rules.json names by a relative path.
rule aws_access_key_id
{
    meta:
        description = "an AWS access key id"
    strings:
        $id = /(AKIA|ASIA)[A-Z0-9]{16}/
    condition:
        $id
}
