-- +goose Up

-- login_failures counts the failed dashboard logins of each client (an
-- address, as auth.Client names it) in its current window, so that every
-- dashboard replica on this database applies one login limit: a client
-- cannot multiply its guesses by the number of replicas behind the load
-- balancer. window_start is UTC text in the requests table's fixed-width
-- form (see 0001); a window older than the limit's is over.
CREATE TABLE login_failures (
    client       text COLLATE "C" PRIMARY KEY NOT NULL,
    window_start text COLLATE "C" NOT NULL,
    failures     bigint NOT NULL
);

-- secrets holds values every replica must share and that are generated
-- once, by whichever replica starts first: the session cookie key when
-- SESSION_SECRET is unset, so that any dashboard replica accepts any
-- session.
CREATE TABLE secrets (
    name  text COLLATE "C" PRIMARY KEY NOT NULL,
    value bytea NOT NULL
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE login_failures;
