/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_KUBE_TESTCERTS_H
#define TESTS_KUBE_TESTCERTS_H

/*
 * Test-only TLS material (ECDSA P-256, valid 2000-2125) for the fake API server's TLS tests:
 * a CA, a server certificate for 127.0.0.1 and localhost, a client certificate and an
 * unrelated CA. Generated with openssl; the keys protect nothing.
 */

#define TEST_CA_PEM                                                                                \
        "-----BEGIN CERTIFICATE-----\n"                                                            \
        "MIIBeTCCASCgAwIBAgICEAAwCgYIKoZIzj0EAwIwIzEhMB8GA1UEAwwYa2FnZW50\n"                       \
        "LXJldGVudGlvbiB0ZXN0IENBMCAXDTAwMDEwMTAwMDAwMFoYDzIxMjUwMTAxMDAw\n"                       \
        "MDAwWjAjMSEwHwYDVQQDDBhrYWdlbnQtcmV0ZW50aW9uIHRlc3QgQ0EwWTATBgcq\n"                       \
        "hkjOPQIBBggqhkjOPQMBBwNCAATAlpDx/m5pFBXf8w34bURerC/YPDhI5ESoHzo6\n"                       \
        "PHYK/rQm2LWDanogoBQvDaBgcnAVWkm/o5u4NsCMSrtHUJ2yo0IwQDAPBgNVHRMB\n"                       \
        "Af8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUIrRqA8iWqfBO21Qb\n"                       \
        "UtEllz7cYMIwCgYIKoZIzj0EAwIDRwAwRAIgfP8kMl7Kt7EV1n2WFuXhBU1wUBFg\n"                       \
        "Uc4Vn9e0fUAdgWMCIB+kqgj1BQogUlWqzAkgIV/DOKcBCIiIPUSaXwm9SLHU\n"                           \
        "-----END CERTIFICATE-----\n"

#define TEST_OTHER_CA_PEM                                                                          \
        "-----BEGIN CERTIFICATE-----\n"                                                            \
        "MIIBWjCCAQCgAwIBAgICEAEwCgYIKoZIzj0EAwIwEzERMA8GA1UEAwwIb3RoZXIg\n"                       \
        "Q0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBaMBMxETAPBgNVBAMM\n"                       \
        "CG90aGVyIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERf5jrtPXa+PI/PfX\n"                       \
        "FFPIcTNny/alzJxWM0noL/bs+Oco4gKsgZ2cykVgs7UBZvNivCBF6W11Ly+mswrb\n"                       \
        "74hEyaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0O\n"                       \
        "BBYEFP9Wu3TlvcG2ZTq4bNHZQq8AEEBkMAoGCCqGSM49BAMCA0gAMEUCIQDh+o5c\n"                       \
        "1lDOrnYVNQyy/uuavHMLtF+vsD2o5xiAQX/d4gIgEaZB0EteqQdrhrwCzV9dHvEQ\n"                       \
        "Trqj1nEckFeb2/+Souc=\n"                                                                   \
        "-----END CERTIFICATE-----\n"

#define TEST_SERVER_CERT_PEM                                                                       \
        "-----BEGIN CERTIFICATE-----\n"                                                            \
        "MIIBtjCCAVygAwIBAgICEAIwCgYIKoZIzj0EAwIwIzEhMB8GA1UEAwwYa2FnZW50\n"                       \
        "LXJldGVudGlvbiB0ZXN0IENBMCAXDTAwMDEwMTAwMDAwMFoYDzIxMjUwMTAxMDAw\n"                       \
        "MDAwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjOPQMB\n"                       \
        "BwNCAAT3WS2VpjBVilDH2GgHP7FjEzghY/KspHSCrdhHZw65RFoP2ShRI3T3l3Sw\n"                       \
        "xThktFXQWCbNIJZNmjid4C3ZEv5io4GMMIGJMAkGA1UdEwQCMAAwCwYDVR0PBAQD\n"                       \
        "AgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2Fs\n"                       \
        "aG9zdDAdBgNVHQ4EFgQUlY1to118ToWroFeiqn8rKu7BoVIwHwYDVR0jBBgwFoAU\n"                       \
        "IrRqA8iWqfBO21QbUtEllz7cYMIwCgYIKoZIzj0EAwIDSAAwRQIgVQfRRs3gFAow\n"                       \
        "3S/TpqnpbOGhN4iZSkFkcuV0mBqQguUCIQCf1nJAS5Xj80Asth5/a1+1hsGsKACf\n"                       \
        "/n5zNs8fT5pY9g==\n"                                                                       \
        "-----END CERTIFICATE-----\n"

#define TEST_SERVER_KEY_PEM                                                                        \
        "-----BEGIN PRIVATE KEY-----\n"                                                            \
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJYCYm0mofIsZioUy\n"                       \
        "ihcck6siJLw+Iw9so7MCMLsejiShRANCAAT3WS2VpjBVilDH2GgHP7FjEzghY/Ks\n"                       \
        "pHSCrdhHZw65RFoP2ShRI3T3l3SwxThktFXQWCbNIJZNmjid4C3ZEv5i\n"                               \
        "-----END PRIVATE KEY-----\n"

#define TEST_CLIENT_CERT_PEM                                                                       \
        "-----BEGIN CERTIFICATE-----\n"                                                            \
        "MIIBuDCCAV6gAwIBAgICEAMwCgYIKoZIzj0EAwIwIzEhMB8GA1UEAwwYa2FnZW50\n"                       \
        "LXJldGVudGlvbiB0ZXN0IENBMCAXDTAwMDEwMTAwMDAwMFoYDzIxMjUwMTAxMDAw\n"                       \
        "MDAwWjA0MRkwFwYDVQQDDBBrYWdlbnQtcmV0ZW50aW9uMRcwFQYDVQQKDA5zeXN0\n"                       \
        "ZW06bWFzdGVyczBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHQ9syVq1ixkpmfT\n"                       \
        "Vewg3Z9MRMv8Q36Eult5SIC2o4DqOEfU8M155DxvXhKRJ3s+8VexaPeOsKeRcBC8\n"                       \
        "lvFVj6yjbzBtMAkGA1UdEwQCMAAwCwYDVR0PBAQDAgeAMBMGA1UdJQQMMAoGCCsG\n"                       \
        "AQUFBwMCMB0GA1UdDgQWBBSfkIuOVltZ7jKWhI3+ZsWlviF8SzAfBgNVHSMEGDAW\n"                       \
        "gBQitGoDyJap8E7bVBtS0SWXPtxgwjAKBggqhkjOPQQDAgNIADBFAiEAqv/V1f60\n"                       \
        "sKWaF74uFrsmYKXYScxtohlYUrAIOPBPaW8CIAoiBg6Y35yMx8O+7lEqWGZQxzVt\n"                       \
        "QMnmRJd+svJTWlbT\n"                                                                       \
        "-----END CERTIFICATE-----\n"

#define TEST_CLIENT_KEY_PEM                                                                        \
        "-----BEGIN PRIVATE KEY-----\n"                                                            \
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBarJv4eKxbVfvjDS\n"                       \
        "qBHhclHHw+lBidP/hWodK5vyfHqhRANCAAR0PbMlatYsZKZn01XsIN2fTETL/EN+\n"                       \
        "hLpbeUiAtqOA6jhH1PDNeeQ8b14SkSd7PvFXsWj3jrCnkXAQvJbxVY+s\n"                               \
        "-----END PRIVATE KEY-----\n"

/* ca.crt in base64, as a kubeconfig's *-data fields hold it. */
#define TEST_CA_B64                                                                                \
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJlVENDQVNDZ0F3SUJBZ0lDRUFBd0NnWUlLb1pJ"         \
        "emowRUF3SXdJekVoTUI4R0ExVUVBd3dZYTJGblpXNTAKTFhKbGRHVnVkR2x2YmlCMFpYTjBJRU5CTUNB"         \
        "WERUQXdNREV3TVRBd01EQXdNRm9ZRHpJeE1qVXdNVEF4TURBdwpNREF3V2pBak1TRXdId1lEVlFRRERC"         \
        "aHJZV2RsYm5RdGNtVjBaVzUwYVc5dUlIUmxjM1FnUTBFd1dUQVRCZ2NxCmhrak9QUUlCQmdncWhrak9Q"         \
        "UU1CQndOQ0FBVEFscER4L201cEZCWGY4dzM0YlVSZXJDL1lQRGhJNUVTb0h6bzYKUEhZSy9yUW0yTFdE"         \
        "YW5vZ29CUXZEYUJnY25BVldrbS9vNXU0TnNDTVNydEhVSjJ5bzBJd1FEQVBCZ05WSFJNQgpBZjhFQlRB"         \
        "REFRSC9NQTRHQTFVZER3RUIvd1FFQXdJQkJqQWRCZ05WSFE0RUZnUVVJclJxQThpV3FmQk8yMVFiClV0"         \
        "RWxsejdjWU1Jd0NnWUlLb1pJemowRUF3SURSd0F3UkFJZ2ZQOGtNbDdLdDdFVjFuMldGdVhoQlUxd1VC"         \
        "RmcKVWM0Vm45ZTBmVUFkZ1dNQ0lCK2txZ2oxQlFvZ1VsV3F6QWtnSVYvRE9LY0JDSWlJUFVTYVh3bTlT"         \
        "TEhVCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"

/* client.crt in base64, as a kubeconfig's *-data fields hold it. */
#define TEST_CLIENT_CERT_B64                                                                       \
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ1RENDQVY2Z0F3SUJBZ0lDRUFNd0NnWUlLb1pJ"         \
        "emowRUF3SXdJekVoTUI4R0ExVUVBd3dZYTJGblpXNTAKTFhKbGRHVnVkR2x2YmlCMFpYTjBJRU5CTUNB"         \
        "WERUQXdNREV3TVRBd01EQXdNRm9ZRHpJeE1qVXdNVEF4TURBdwpNREF3V2pBME1Sa3dGd1lEVlFRRERC"         \
        "QnJZV2RsYm5RdGNtVjBaVzUwYVc5dU1SY3dGUVlEVlFRS0RBNXplWE4wClpXMDZiV0Z6ZEdWeWN6QlpN"         \
        "Qk1HQnlxR1NNNDlBZ0VHQ0NxR1NNNDlBd0VIQTBJQUJIUTlzeVZxMWl4a3BtZlQKVmV3ZzNaOU1STXY4"         \
        "UTM2RXVsdDVTSUMybzREcU9FZlU4TTE1NUR4dlhoS1JKM3MrOFZleGFQZU9zS2VSY0JDOApsdkZWajZ5"         \
        "amJ6QnRNQWtHQTFVZEV3UUNNQUF3Q3dZRFZSMFBCQVFEQWdlQU1CTUdBMVVkSlFRTU1Bb0dDQ3NHCkFR"         \
        "VUZCd01DTUIwR0ExVWREZ1FXQkJTZmtJdU9WbHRaN2pLV2hJMytac1dsdmlGOFN6QWZCZ05WSFNNRUdE"         \
        "QVcKZ0JRaXRHb0R5SmFwOEU3YlZCdFMwU1dYUHR4Z3dqQUtCZ2dxaGtqT1BRUURBZ05JQURCRkFpRUFx"         \
        "di9WMWY2MApzS1dhRjc0dUZyc21ZS1hZU2N4dG9obFlVckFJT1BCUGFXOENJQW9pQmc2WTM1eU14OE8r"         \
        "N2xFcVdHWlF4elZ0ClFNbm1SSmQrc3ZKVFdsYlQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="

/* client.key in base64, as a kubeconfig's *-data fields hold it. */
#define TEST_CLIENT_KEY_B64                                                                        \
        "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5"         \
        "QXdFSEJHMHdhd0lCQVFRZ0Jhckp2NGVLeGJWZnZqRFMKcUJIaGNsSEh3K2xCaWRQL2hXb2RLNXZ5Zkhx"         \
        "aFJBTkNBQVIwUGJNbGF0WXNaS1puMDFYc0lOMmZURVRML0VOKwpoTHBiZVVpQXRxT0E2amhIMVBETmVl"         \
        "UThiMTRTa1NkN1B2RlhzV2ozanJDbmtYQVF2SmJ4VlkrcwotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0t"         \
        "Cg=="
#endif
